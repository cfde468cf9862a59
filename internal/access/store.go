package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/internal/rounds"
	"github.com/beacon/eventdispatch/internal/visible"
)

// ErrNotFound is returned for a client or token id the store does not have.
var ErrNotFound = errors.New("not found")

// errUnknownToken is a token the store has no valid row for (never made, or revoked).
var errUnknownToken = errors.New("unknown or revoked token")

// Store keeps clients and tokens in Postgres (schema access, migration 00008).
type Store struct {
	pool *pgxpool.Pool
	// calls gathers the model calls recorded together into rounds (RecordModelCall).
	calls rounds.Group[modelCall, bool]
}

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool) *Store {
	s := &Store{pool: pool}
	s.calls.Max, s.calls.Hold, s.calls.Run = maxCallsRound, callsHold, s.recordCalls
	return s
}

// clientColumns are what scanClient reads, of access.client aliased c.
const clientColumns = `c.id, c.name, c.tier, c.admin, coalesce(c.requests_per_second, 0),
	coalesce(c.sentences_per_minute, 0), coalesce(c.tokens_per_day, 0), c.created_at, c.disabled_at`

func scanClient(row pgx.Row) (Client, error) {
	var c Client
	var tier string
	var disabled *time.Time
	err := row.Scan(&c.ID, &c.Name, &tier, &c.Admin, &c.Limits.RequestsPerSecond, &c.Limits.SentencesPerMinute,
		&c.Limits.TokensPerDay, &c.CreatedAt, &disabled)
	if err != nil {
		return Client{}, err
	}
	c.Tier = Tier(tier)
	if disabled != nil {
		c.DisabledAt = *disabled
	}
	return c, nil
}

// MaxClientName is the longest a client's name may be, in characters (access.client's check).
const MaxClientName = 200

// CheckClientName refuses a name that is blank, longer than MaxClientName characters, or holds a
// control character, a line or paragraph separator or a bidirectional override or isolate: a
// newline or a tab in a name would make `eliza clients list` show a row that is not one, and
// an override reorder the rest of its row.
func CheckClientName(name string) error {
	switch n := utf8.RuneCountInString(name); {
	case visible.Blank(name):
		return errors.New("a client's name must not be blank (nothing but spaces, control and format characters, such as zero-width spaces)")
	case n > MaxClientName:
		return fmt.Errorf("a client's name is at most %d characters, not %d", MaxClientName, n)
	case !utf8.ValidString(name):
		return errors.New("a client's name must be UTF-8 text")
	}
	// Line and paragraph separators end a line as a newline does.
	if i := strings.IndexFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp) }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(name[i:])
		return fmt.Errorf("a client's name must not hold control characters or line breaks: %q at byte %d", r, i)
	}
	// The bidirectional overrides and isolates reorder what follows them on a terminal: a
	// name could make the rest of its line in `eliza clients list` read otherwise.
	if i := strings.IndexFunc(name, func(r rune) bool { return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(name[i:])
		return fmt.Errorf("a client's name must not hold characters that reorder text: %q at byte %d", r, i)
	}
	return nil
}

// AddClient adds a client with one token, and returns the client, the token (the only time it
// is seen) and the token's id. A name CheckClientName refuses is refused.
func (s *Store) AddClient(ctx context.Context, name string, tier Tier, admin bool) (Client, string, Token, error) {
	if err := CheckClientName(name); err != nil {
		return Client{}, "", Token{}, fmt.Errorf("add client: %w", err)
	}
	secret, hash := NewToken()
	var c Client
	var tok Token
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		c, err = scanClient(tx.QueryRow(ctx, `INSERT INTO access.client AS c (name, tier, admin) VALUES ($1, $2, $3)
			RETURNING `+clientColumns, name, string(tier), admin))
		if err != nil {
			return describe(err, "add client")
		}
		tok, err = insertToken(ctx, tx, c.ID, hash)
		return err
	})
	if err != nil {
		return Client{}, "", Token{}, err
	}
	return c, secret, tok, nil
}

// Clients lists every client, oldest first.
func (s *Store) Clients(ctx context.Context) ([]Client, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+clientColumns+` FROM access.client c ORDER BY c.created_at, c.id`)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Client, error) { return scanClient(row) })
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	return cs, nil
}

// SetTier changes a client's tier.
func (s *Store) SetTier(ctx context.Context, id uuid.UUID, tier Tier) error {
	return s.updateClient(ctx, id, `UPDATE access.client SET tier = $2 WHERE id = $1`, string(tier))
}

// SetLimits sets a client's own limits; a zero field goes back to the front door's default.
func (s *Store) SetLimits(ctx context.Context, id uuid.UUID, l Limits) error {
	return s.updateClient(ctx, id, `UPDATE access.client SET requests_per_second = nullif($2, 0),
		sentences_per_minute = nullif($3, 0), tokens_per_day = nullif($4::bigint, 0) WHERE id = $1`,
		l.RequestsPerSecond, l.SentencesPerMinute, l.TokensPerDay)
}

// SetDisabled disables a client (its calls are refused with PermissionDenied) or enables it.
func (s *Store) SetDisabled(ctx context.Context, id uuid.UUID, disabled bool) error {
	if disabled {
		return s.updateClient(ctx, id, `UPDATE access.client SET disabled_at = coalesce(disabled_at, now()) WHERE id = $1`)
	}
	return s.updateClient(ctx, id, `UPDATE access.client SET disabled_at = NULL WHERE id = $1`)
}

func (s *Store) updateClient(ctx context.Context, id uuid.UUID, sql string, args ...any) error {
	tag, err := s.pool.Exec(ctx, sql, append([]any{id}, args...)...)
	if err != nil {
		return describe(err, "update client")
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("client %s: %w", id, ErrNotFound)
	}
	return nil
}

// AddToken makes another token for a client and returns it (the only time it is seen).
func (s *Store) AddToken(ctx context.Context, client uuid.UUID) (string, Token, error) {
	secret, hash := NewToken()
	tok, err := insertToken(ctx, s.pool, client, hash)
	if err != nil {
		return "", Token{}, err
	}
	return secret, tok, nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func insertToken(ctx context.Context, q querier, client uuid.UUID, hash Hash) (Token, error) {
	tok := Token{Client: client}
	err := q.QueryRow(ctx, `INSERT INTO access.token (client, hash) VALUES ($1, $2) RETURNING id, created_at`,
		client, hash[:]).Scan(&tok.ID, &tok.CreatedAt)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation
		return Token{}, fmt.Errorf("client %s: %w", client, ErrNotFound)
	}
	if err != nil {
		return Token{}, describe(err, "add token")
	}
	return tok, nil
}

// RevokeToken revokes a token: it stops working on every front door within the cache's bound.
func (s *Store) RevokeToken(ctx context.Context, id uuid.UUID) error {
	tag, err := s.pool.Exec(ctx, `UPDATE access.token SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1`, id)
	if err != nil {
		return describe(err, "revoke token")
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("token %s: %w", id, ErrNotFound)
	}
	return nil
}

// Tokens lists a client's tokens, revoked ones included, oldest first; ErrNotFound when there
// is no such client.
func (s *Store) Tokens(ctx context.Context, client uuid.UUID) ([]Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, client, created_at, revoked_at
		FROM access.token WHERE client = $1 ORDER BY created_at, id`, client)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	ts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Token, error) {
		var t Token
		var revoked *time.Time
		err := row.Scan(&t.ID, &t.Client, &t.CreatedAt, &revoked)
		if revoked != nil {
			t.RevokedAt = *revoked
		}
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	if len(ts) == 0 { // a client without tokens, or no client at all
		if err := s.exists(ctx, client); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
	}
	return ts, nil
}

// exists returns nil when client exists, and ErrNotFound when it does not.
func (s *Store) exists(ctx context.Context, client uuid.UUID) error {
	var known bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM access.client WHERE id = $1)`, client).Scan(&known); err != nil {
		return err
	}
	if !known {
		return fmt.Errorf("client %s: %w", client, ErrNotFound)
	}
	return nil
}

// resolve returns the client a valid token belongs to, or errUnknownToken.
func (s *Store) resolve(ctx context.Context, hash Hash) (Client, error) {
	c, err := scanClient(s.pool.QueryRow(ctx, `SELECT `+clientColumns+`
		FROM access.token t JOIN access.client c ON c.id = t.client
		WHERE t.hash = $1 AND t.revoked_at IS NULL`, hash[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return Client{}, errUnknownToken
	}
	if err != nil {
		return Client{}, fmt.Errorf("look up token: %w", err)
	}
	return c, nil
}

// standing is what a token's lookup says of its streams: the client it is of, and whether
// that client is disabled. A token that is not in the map standing returns is unknown or
// revoked.
type standing struct {
	client   uuid.UUID
	disabled bool
}

// standing looks up the tokens of hashes in one query: those still valid, with their clients'
// standing.
func (s *Store) standing(ctx context.Context, hashes []Hash) (map[Hash]standing, error) {
	raw := make([][]byte, len(hashes))
	for i := range hashes {
		raw[i] = hashes[i][:]
	}
	rows, err := s.pool.Query(ctx, `
		SELECT t.hash, c.id, c.disabled_at IS NOT NULL
		FROM access.token t JOIN access.client c ON c.id = t.client
		WHERE t.hash = ANY($1) AND t.revoked_at IS NULL`, raw)
	if err != nil {
		return nil, fmt.Errorf("look up tokens: %w", err)
	}
	defer rows.Close()
	out := map[Hash]standing{}
	for rows.Next() {
		var hash []byte
		var st standing
		if err := rows.Scan(&hash, &st.client, &st.disabled); err != nil {
			return nil, fmt.Errorf("look up tokens: %w", err)
		}
		if len(hash) == len(Hash{}) {
			out[Hash(hash)] = st
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up tokens: %w", err)
	}
	return out, nil
}

// describe turns a constraint violation into words a person can act on.
func describe(err error, what string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23514" { // check_violation
		return fmt.Errorf("%s: a value is out of range (%s)", what, pgErr.ConstraintName)
	}
	return fmt.Errorf("%s: %w", what, err)
}
