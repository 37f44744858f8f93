"""Install sql/ after every `yoyo apply`: functions, triggers, policies, grants.

The files are listed in sql/install-order.txt and are all idempotent, so this
runs after any migration and leaves the same database. It needs nothing but
yoyo (and sqlparse, which yoyo itself uses to split migrations), so a DBA can
run `yoyo apply` without the Python client installed.

Each file is sent one statement at a time: on a Citus coordinator, Citus passes
the text of a DDL statement on to the workers, and a worker refuses a text that
holds several commands.
"""

from pathlib import Path

import sqlparse
from yoyo import step

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def install_sql(conn):
    order = (SQL_DIR / "install-order.txt").read_text(encoding="utf-8").splitlines()
    with conn.cursor() as cursor:
        for name in order:
            name = name.strip()
            if name and not name.startswith("#"):
                text = (SQL_DIR / name).read_text(encoding="utf-8")
                for statement in sqlparse.split(text):
                    if sqlparse.format(statement, strip_comments=True).strip():
                        cursor.execute(statement)


steps = [step(install_sql)]
