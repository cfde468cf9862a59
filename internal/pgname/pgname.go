// Package pgname names a process's own Postgres connections, so that pg_stat_activity tells
// them from its pools' connections: each listener connection, which Postgres wakes (and which
// runs a transaction) for every NOTIFY committed in its database.
package pgname

import "github.com/jackc/pgx/v5"

// Default sets cfg's application_name to name unless the connection string gave one.
func Default(cfg *pgx.ConnConfig, name string) {
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = name
	}
}
