package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/stele-audit/stele"
)

// HasStore reports whether the database at url holds a Stele store (its
// accounts table, in the connection's search path), without changing it:
// commands other than serve and init refuse a database that holds none
// rather than make one.
func HasStore(ctx context.Context, url string) (bool, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return false, stele.Errorf(stele.EINVALID, "postgres: bad database URL: %v", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("postgres: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var found bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('accounts') IS NOT NULL`).Scan(&found); err != nil {
		return false, fmt.Errorf("postgres: look for a store: %w", err)
	}
	return found, nil
}
