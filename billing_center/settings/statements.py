"""Bank statements (tickets.statements): automatic crediting and the upload ceiling."""

import os

# Lines matched exactly (a valid RF reference, an invoice or bill number, in the account's
# currency) are credited on import; off: finance confirms each with one click.
STATEMENT_AUTO_CREDIT = os.environ.get("STATEMENT_AUTO_CREDIT", "false").lower() in ("1", "true", "yes", "on")
# A statement file larger than this is refused before it is parsed.
STATEMENT_MAX_BYTES = int(os.environ.get("STATEMENT_MAX_BYTES", str(20 * 1024 * 1024)))
# Lines imported from one file at most (a bank's statement of a day or a week holds far fewer): 20 MB of camt.053
# could hold a hundred thousand, matched inside the upload's request for minutes.
STATEMENT_MAX_LINES = int(os.environ.get("STATEMENT_MAX_LINES", "20000"))
