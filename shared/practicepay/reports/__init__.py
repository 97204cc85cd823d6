"""Reports: payments over a date range, and accounts-receivable aging. Both are DynamoDB key-range or index
queries (never scans), answered as JSON or CSV."""
