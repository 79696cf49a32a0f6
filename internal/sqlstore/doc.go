// Package sqlstore is the code the SQLite and PostgreSQL stores share:
// planning a stele.RowQuery as SQL where the dialect does not matter (plan.go),
// the logic of its WHERE clause's filters, each dialect writing its own
// conditions (where.go), and reading the rows both schemas lay out alike
// (row.go).
package sqlstore
