package pgname_test

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/beacon/eventdispatch/internal/pgname"
)

func TestDefault_NamesAConnectionUnlessItsStringDid(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"postgres://u@localhost/db", "listener"},
		{"postgres://u@localhost/db?application_name=mine", "mine"},
	} {
		cfg, err := pgx.ParseConfig(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		pgname.Default(cfg, "listener")
		if got := cfg.RuntimeParams["application_name"]; got != tc.want {
			t.Errorf("%s: application_name %q, want %q", tc.url, got, tc.want)
		}
	}
	var bare pgx.ConnConfig // no RuntimeParams at all
	pgname.Default(&bare, "listener")
	if got := bare.RuntimeParams["application_name"]; got != "listener" {
		t.Errorf("a config without runtime parameters: application_name %q, want %q", got, "listener")
	}
}
