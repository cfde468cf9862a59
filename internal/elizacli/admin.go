package elizacli

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/beacon/eventdispatch/internal/access"
	"github.com/beacon/eventdispatch/internal/app"
	"github.com/beacon/eventdispatch/internal/pguuid"
	"github.com/beacon/eventdispatch/migrations"
)

// The administration commands (clients, tokens) talk to the Postgres that the front doors
// read tokens from, at DATABASE_URL; they need no front door. Tokens are printed once, alone
// on standard output, so that a script can capture them; everything else goes to standard
// error.

// database is where the administration commands find the clients and tokens.
type database struct{ url string }

func (d *database) store(ctx context.Context) (*access.Store, *pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(d.url)
	if err != nil {
		return nil, nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	cfg.MaxConns = 2
	cfg.AfterConnect = pguuid.AfterConnect
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("cannot reach the database at DATABASE_URL: %w", err)
	}
	return access.NewStore(pool), pool, nil
}

// withStore wraps a command's work with an open store. A table missing is a database the
// migrations have not run on (or not all of them): the error is then what the binaries say of
// such a database (migrations.Check), with the versions.
func (d *database) withStore(f func(cmd *cobra.Command, args []string, s *access.Store) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		s, pool, err := d.store(cmd.Context())
		if err != nil {
			return err
		}
		defer pool.Close()
		err = f(cmd, args, s)
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == undefinedTable {
			if cerr := migrations.Check(cmd.Context(), pool); errors.Is(cerr, migrations.ErrUnusable) {
				return fmt.Errorf("DATABASE_URL: %w", cerr)
			}
		}
		return err
	}
}

// undefinedTable is the SQLSTATE of a table that does not exist.
const undefinedTable = "42P01"

func newDatabase() *database {
	d := &database{url: app.DefaultDatabaseURL}
	if u := os.Getenv("DATABASE_URL"); u != "" {
		d.url = u
	}
	return d
}

// idArgs checks that a command has n arguments, the first of them the id of a what (client or
// token), before the database is reached: a mistyped id is said as such, not as a connection
// error.
func idArgs(what string, n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := withUsage(cobra.ExactArgs(n))(cmd, args); err != nil {
			return err
		}
		_, err := parseID(what, args[0])
		return err
	}
}

func parseID(what, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		lists := "eliza clients list"
		if what == "token" {
			lists = "eliza tokens list CLIENT_ID"
		}
		return uuid.Nil, fmt.Errorf("%s %q is not an id (a UUID, as `%s` shows it)", what, s, lists)
	}
	return id, nil
}

func newClients(db *database) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "clients",
		Short: "Manage who may call the service (in the Postgres at DATABASE_URL)",
		Long: "clients adds, lists, re-tiers, disables and enables the clients that front doors authenticate " +
			"(AUTH=optional|required). It talks to the Postgres at DATABASE_URL, not to a front door. Nothing deletes " +
			"a client or a token: disable the client, or revoke the token.",
	}
	var name, tier string
	var admin bool
	add := &cobra.Command{
		Use:   "add --name NAME [--tier free|premium] [--admin]",
		Short: "Add a client and print its first token (once, alone on standard output)",
		// The flags are checked before the database is reached, as every command's arguments.
		Args: func(cmd *cobra.Command, args []string) error {
			if err := withUsage(noArgs)(cmd, args); err != nil {
				return err
			}
			if _, err := access.ParseTier(tier); err != nil {
				return err
			}
			if name == "" {
				return usageError{errors.New("--name is required")}
			}
			if err := access.CheckClientName(strings.TrimSpace(name)); err != nil {
				return fmt.Errorf("--name: %w", err)
			}
			return nil
		},
		RunE: db.withStore(func(cmd *cobra.Command, _ []string, s *access.Store) error {
			t, err := access.ParseTier(tier)
			if err != nil {
				return err
			}
			c, secret, tok, err := s.AddClient(cmd.Context(), strings.TrimSpace(name), t, admin)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "added client %s (%s, %s); its token %s is below, and is not shown again\n", c.ID, c.Name, c.Tier, tok.ID)
			fmt.Fprintln(cmd.OutOrStdout(), secret)
			return nil
		}),
	}
	add.Flags().StringVar(&name, "name", "", "the client's name, for people")
	add.Flags().StringVar(&tier, "tier", string(access.Free), "free (answered by the offline ELIZA responder) or premium (by the model)")
	add.Flags().BoolVar(&admin, "admin", false, "may read every client's usage")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the clients",
		Args:  withUsage(noArgs),
		RunE: db.withStore(func(cmd *cobra.Command, _ []string, s *access.Store) error {
			cs, err := s.Clients(cmd.Context())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tNAME\tTIER\tADMIN\tLIMITS\tCREATED\tSTATE")
			for _, c := range cs {
				state := "enabled"
				if c.Disabled() {
					state = "disabled " + c.DisabledAt.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%t\t%s\t%s\t%s\n", c.ID, shownName(c.Name), c.Tier, c.Admin, describeLimits(c.Limits),
					c.CreatedAt.UTC().Format(time.RFC3339), state)
			}
			return w.Flush()
		}),
	}

	setTier := &cobra.Command{
		Use:   "tier ID free|premium",
		Short: "Change a client's tier",
		Args: func(cmd *cobra.Command, args []string) error {
			if err := idArgs("client", 2)(cmd, args); err != nil {
				return err
			}
			_, err := access.ParseTier(args[1])
			return err
		},
		RunE: db.withStore(func(cmd *cobra.Command, args []string, s *access.Store) error {
			id, err := parseID("client", args[0])
			if err != nil {
				return err
			}
			t, err := access.ParseTier(args[1])
			if err != nil {
				return err
			}
			if err := s.SetTier(cmd.Context(), id, t); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "client %s is %s now\n", id, t)
			return nil
		}),
	}

	var limits access.Limits
	setLimits := &cobra.Command{
		Use:   "limits ID [--requests-per-second N] [--sentences-per-minute N] [--tokens-per-day N]",
		Short: "Set a client's own limits (0, or a flag left out: the front door's default)",
		Long: "limits sets all three of a client's limits at once: a flag left out, or 0, puts that limit back to the " +
			"front door's default, so give every limit the client keeps. Requests and sentences are 1 to 2147483647.",
		Args: withUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Checked before the database is reached, which would refuse a value out of its
			// column's range with an error naming no flag.
			id, err := parseID("client", args[0])
			if err != nil {
				return err
			}
			if err := checkLimits(limits); err != nil {
				return err
			}
			return db.withStore(func(cmd *cobra.Command, _ []string, s *access.Store) error {
				if err := s.SetLimits(cmd.Context(), id, limits); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "client %s: %s\n", id, describeLimits(limits))
				return nil
			})(cmd, args)
		},
	}
	setLimits.Flags().IntVar(&limits.RequestsPerSecond, "requests-per-second", 0, "Say, Converse and Introduce calls a second, per front door")
	setLimits.Flags().IntVar(&limits.SentencesPerMinute, "sentences-per-minute", 0, "queued sentences a minute, per front door")
	setLimits.Flags().Int64Var(&limits.TokensPerDay, "tokens-per-day", 0, "model tokens a UTC day (premium), across front doors")

	able := func(use, short string, disabled bool) *cobra.Command {
		return &cobra.Command{
			Use:   use + " ID",
			Short: short,
			Args:  idArgs("client", 1),
			RunE: db.withStore(func(cmd *cobra.Command, args []string, s *access.Store) error {
				id, err := parseID("client", args[0])
				if err != nil {
					return err
				}
				if err := s.SetDisabled(cmd.Context(), id, disabled); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "client %s is %sd now\n", id, use)
				return nil
			}),
		}
	}
	cmd.AddCommand(add, list, setTier, setLimits,
		able("disable", "Refuse a client's calls (PermissionDenied) until it is enabled again", true),
		able("enable", "Let a disabled client call again", false))
	return cmd
}

func newTokens(db *database) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "Manage clients' tokens (in the Postgres at DATABASE_URL)",
	}
	add := &cobra.Command{
		Use:   "add CLIENT_ID",
		Short: "Make another token for a client and print it (once, alone on standard output)",
		Args:  idArgs("client", 1),
		RunE: db.withStore(func(cmd *cobra.Command, args []string, s *access.Store) error {
			id, err := parseID("client", args[0])
			if err != nil {
				return err
			}
			secret, tok, err := s.AddToken(cmd.Context(), id)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "token %s for client %s is below, and is not shown again\n", tok.ID, id)
			if disabled(cmd.Context(), s, id) {
				fmt.Fprintf(cmd.ErrOrStderr(), "client %s is disabled: its tokens are refused until `eliza clients enable %s`\n", id, id)
			}
			fmt.Fprintln(cmd.OutOrStdout(), secret)
			return nil
		}),
	}
	list := &cobra.Command{
		Use:   "list CLIENT_ID",
		Short: "List a client's tokens (their ids, never the tokens)",
		Args:  idArgs("client", 1),
		RunE: db.withStore(func(cmd *cobra.Command, args []string, s *access.Store) error {
			id, err := parseID("client", args[0])
			if err != nil {
				return err
			}
			ts, err := s.Tokens(cmd.Context(), id)
			if err != nil {
				return err
			}
			valid := "valid"
			if disabled(cmd.Context(), s, id) {
				valid = "valid, but its client is disabled"
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tCREATED\tSTATE")
			for _, t := range ts {
				state := valid
				if !t.RevokedAt.IsZero() {
					state = "revoked " + t.RevokedAt.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\n", t.ID, t.CreatedAt.UTC().Format(time.RFC3339), state)
			}
			return w.Flush()
		}),
	}
	revoke := &cobra.Command{
		Use:   "revoke TOKEN_ID",
		Short: "Revoke a token: every front door refuses it within a second",
		Args:  idArgs("token", 1),
		RunE: db.withStore(func(cmd *cobra.Command, args []string, s *access.Store) error {
			id, err := parseID("token", args[0])
			if err != nil {
				return err
			}
			if err := s.RevokeToken(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "token %s is revoked\n", id)
			return nil
		}),
	}
	cmd.AddCommand(add, list, revoke)
	return cmd
}

// disabled reports whether client id is disabled, whose tokens every front door refuses; a
// client that cannot be read is taken as not.
func disabled(ctx context.Context, s *access.Store, id uuid.UUID) bool {
	cs, err := s.Clients(ctx)
	if err != nil {
		return false
	}
	i := slices.IndexFunc(cs, func(c access.Client) bool { return c.ID == id })
	return i >= 0 && !cs[i].DisabledAt.IsZero()
}

// checkLimits refuses a limit that access.client cannot hold, naming its flag. Migration 00008
// makes requests_per_second and sentences_per_minute integer and tokens_per_day bigint, each
// positive or NULL (the default, which 0 stands for).
func checkLimits(l access.Limits) error {
	for _, f := range []struct {
		flag   string
		n, max int64
	}{
		{"--requests-per-second", int64(l.RequestsPerSecond), math.MaxInt32},
		{"--sentences-per-minute", int64(l.SentencesPerMinute), math.MaxInt32},
		{"--tokens-per-day", l.TokensPerDay, math.MaxInt64},
	} {
		if f.n < 0 || f.n > f.max {
			return fmt.Errorf("%s %d: give 1 to %d, or 0 for the default", f.flag, f.n, f.max)
		}
	}
	return nil
}

// describeLimits shows a client's own limits, "default" for those it does not set.
func describeLimits(l access.Limits) string {
	show := func(n int64, one, units string) string {
		switch n {
		case 0:
			return "default " + units
		case 1:
			return "1 " + one
		}
		return fmt.Sprintf("%d %s", n, units)
	}
	return show(int64(l.RequestsPerSecond), "req/s", "req/s") + ", " + show(int64(l.SentencesPerMinute), "sentence/min", "sentences/min") + ", " +
		show(l.TokensPerDay, "token/day", "tokens/day")
}

// shownName is a client's name as the list prints it: quoted, escapes and all, when it is not
// one that could be added now (access.CheckClientName), as a name with a line break or a tab
// stored before names were checked, which would print as rows or columns of its own.
func shownName(name string) string {
	if access.CheckClientName(name) != nil {
		return strconv.Quote(name)
	}
	return name
}
