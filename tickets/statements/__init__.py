"""Bank statements in, transfers matched: parse (camt), import (importing), match (matching),
credit once (crediting), with the ledger source shared with the ticket path (sources)."""
