"""Performance reviews: the export (CSV/XLSX) and the HTML report of a period."""
