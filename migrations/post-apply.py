"""Install sql/ after every `yoyo apply`: functions, triggers, policies, grants.

The files are listed in sql/install-order.txt and are all idempotent, so this
runs after any migration and leaves the same database. It needs nothing but
yoyo, so a DBA can run `yoyo apply` without the Python client installed.
"""

from pathlib import Path

from yoyo import step

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def install_sql(conn):
    order = (SQL_DIR / "install-order.txt").read_text(encoding="utf-8").splitlines()
    with conn.cursor() as cursor:
        for name in order:
            name = name.strip()
            if name and not name.startswith("#"):
                cursor.execute((SQL_DIR / name).read_text(encoding="utf-8"))


steps = [step(install_sql)]
