package elizacli

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/beacon/eventdispatch/internal/stack"
)

// admin runs eliza with args (an administration command) against the database at url, and
// returns its exit status and what it printed on standard output and standard error.
func admin(t *testing.T, url string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Setenv("DATABASE_URL", url)
	var out, errs strings.Builder
	code = Main(args, strings.NewReader(""), &out, &errs)
	return code, out.String(), errs.String()
}

// A limit out of the range of its column is refused by its flag's name before the database is
// reached (here, none answers), not with the database's encoding error.
func TestClientsLimits_RefusesAValueItsColumnCannotHold(t *testing.T) {
	nowhere := "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"
	id := "7d5e2c1a-3b4f-4c6d-8e9f-0a1b2c3d4e5f"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--requests-per-second", "99999999999"}, "eliza: --requests-per-second 99999999999: give 1 to 2147483647, or 0 for the default\n"},
		{[]string{"--sentences-per-minute", "2147483648"}, "eliza: --sentences-per-minute 2147483648: give 1 to 2147483647, or 0 for the default\n"},
		{[]string{"--sentences-per-minute", "-1"}, "eliza: --sentences-per-minute -1: give 1 to 2147483647, or 0 for the default\n"},
		{[]string{"--tokens-per-day", "-5"}, "eliza: --tokens-per-day -5: give 1 to 9223372036854775807, or 0 for the default\n"},
	} {
		code, out, errs := admin(t, nowhere, append([]string{"clients", "limits", id}, tc.args...)...)
		if code != 1 || out != "" || errs != tc.want {
			t.Errorf("clients limits %s: exit status %d, %q, %q; want 1 and %q", strings.Join(tc.args, " "), code, out, errs, tc.want)
		}
	}
}

// Every administration command checks its arguments before the database is reached (here,
// none answers): a mistyped id or tier, or a missing name, is said as such, not as a
// connection error.
func TestAdmin_BadArgumentsAreSaidBeforeTheDatabaseIsReached(t *testing.T) {
	nowhere := "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"
	id := "7d5e2c1a-3b4f-4c6d-8e9f-0a1b2c3d4e5f"
	for _, tc := range []struct {
		args []string
		want string
		code int // 2 for a command used wrongly
	}{
		{[]string{"clients", "add", "--name", "x", "--tier", "gold"}, `eliza: tier "gold": want free or premium` + "\n", 1},
		{[]string{"clients", "add"}, "eliza: --name is required\n", 2},
		{[]string{"clients", "add", "--name", "  "}, "eliza: --name: a client's name must not be blank (nothing but spaces, control and format characters, such as zero-width spaces)\n", 1},
		{[]string{"clients", "add", "--name", "\u200b\u200b"}, "eliza: --name: a client's name must not be blank", 1},
		{[]string{"clients", "limits", id, "--sentences-per-minute", "2147483648"}, "eliza: --sentences-per-minute 2147483648: give 1 to 2147483647", 1},
		{[]string{"clients", "limits", id, "--tokens-per-day", "9223372036854775808"}, `eliza: invalid argument "9223372036854775808" for "--tokens-per-day" flag`, 1},
		{[]string{"clients", "limits", id, "--tokens-per-day", "many"}, `eliza: invalid argument "many" for "--tokens-per-day" flag`, 2},
		{[]string{"clients", "add", "--name", "probe\n00000000-dead-beef  admin  premium  true"}, "eliza: --name: a client's name must not hold control characters or line breaks: '\\n' at byte 5\n", 1},
		{[]string{"clients", "add", "--name", "a\tb"}, "eliza: --name: a client's name must not hold control characters or line breaks: '\\t' at byte 1\n", 1},
		{[]string{"clients", "add", "--name", "a\u2028b"}, "eliza: --name: a client's name must not hold control characters or line breaks: '\\u2028' at byte 1\n", 1},
		{[]string{"clients", "add", "--name", "a\u202eb"}, "eliza: --name: a client's name must not hold characters that reorder text: '\\u202e' at byte 1\n", 1},
		{[]string{"clients", "add", "--name", strings.Repeat("é", 201)}, "eliza: --name: a client's name is at most 200 characters, not 201\n", 1},
		{[]string{"clients", "tier", id, "gold"}, `eliza: tier "gold": want free or premium` + "\n", 1},
		{[]string{"clients", "tier", id}, "eliza: accepts 2 arg(s), received 1 (usage: eliza clients tier ID free|premium)\n", 2},
		{[]string{"clients", "add", "--name", "x", "extra"}, `eliza: unexpected argument "extra": eliza clients add takes none (usage: eliza clients add --name NAME [--tier free|premium] [--admin])` + "\n", 2},
		{[]string{"clients", "tier", "not-an-id", "premium"}, `eliza: client "not-an-id" is not an id`, 1},
		{[]string{"clients", "disable", "not-an-id"}, `eliza: client "not-an-id" is not an id`, 1},
		{[]string{"tokens", "add", "not-an-id"}, `eliza: client "not-an-id" is not an id`, 1},
		{[]string{"tokens", "list", "not-an-id"}, `eliza: client "not-an-id" is not an id`, 1},
		{[]string{"tokens", "revoke", "not-an-id"}, "eliza: token \"not-an-id\" is not an id (a UUID, as `eliza tokens list CLIENT_ID` shows it)", 1},
		{[]string{"clients", "enable", "not-an-id"}, "eliza: client \"not-an-id\" is not an id (a UUID, as `eliza clients list` shows it)", 1},
	} {
		code, out, errs := admin(t, nowhere, tc.args...)
		if code != tc.code || out != "" || !strings.HasPrefix(errs, tc.want) {
			t.Errorf("%s: exit status %d, %q, %q; want %d and %q", strings.Join(tc.args, " "), code, out, errs, tc.code, tc.want)
		}
	}
}

// The largest limits each column holds are kept, and every flag left out goes back to the
// default.
func TestClientsLimits_KeepsTheLargestLimitsAndResetsThoseLeftOut(t *testing.T) {
	ep := stack.Require(t, stack.Postgres)
	pool := stack.Pool(t, ep.DatabaseURL)
	code, _, errs := admin(t, ep.DatabaseURL, "clients", "add", "--name", "test limits")
	id := regexp.MustCompile(`client (\S+) `).FindStringSubmatch(errs)
	if code != 0 || id == nil {
		t.Fatalf("clients add: exit status %d, %q", code, errs)
	}
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), `DELETE FROM access.client WHERE id = $1`, id[1]) })

	code, _, errs = admin(t, ep.DatabaseURL, "clients", "limits", id[1],
		"--requests-per-second", "2147483647", "--sentences-per-minute", "2147483647", "--tokens-per-day", "9223372036854775807")
	want := "client " + id[1] + ": 2147483647 req/s, 2147483647 sentences/min, 9223372036854775807 tokens/day\n"
	if code != 0 || errs != want {
		t.Fatalf("clients limits at the columns' maxima: exit status %d, %q; want 0 and %q", code, errs, want)
	}
	code, _, errs = admin(t, ep.DatabaseURL, "clients", "limits", id[1], "--tokens-per-day", "50000")
	want = "client " + id[1] + ": default req/s, default sentences/min, 50000 tokens/day\n"
	if code != 0 || errs != want {
		t.Fatalf("clients limits with one flag: exit status %d, %q; want 0 and %q", code, errs, want)
	}
	code, _, errs = admin(t, ep.DatabaseURL, "clients", "limits", id[1], "--sentences-per-minute", "1", "--tokens-per-day", "1")
	want = "client " + id[1] + ": default req/s, 1 sentence/min, 1 token/day\n"
	if code != 0 || errs != want {
		t.Fatalf("clients limits of one: exit status %d, %q; want 0 and %q", code, errs, want)
	}
	code, _, errs = admin(t, ep.DatabaseURL, "clients", "limits", id[1], "--tokens-per-day", "50000")
	if code != 0 {
		t.Fatalf("clients limits with one flag again: exit status %d, %q", code, errs)
	}
	var rps, spm *int32
	var tpd *int64
	if err := pool.QueryRow(t.Context(), `SELECT requests_per_second, sentences_per_minute, tokens_per_day FROM access.client WHERE id = $1`,
		id[1]).Scan(&rps, &spm, &tpd); err != nil || rps != nil || spm != nil || tpd == nil || *tpd != 50000 {
		t.Fatalf("stored %v, %v, %v (%v); want NULL, NULL, 50000", rps, spm, tpd, err)
	}
}

// A token made for, or listed of, a disabled client says that the client is disabled: the
// token looked as good as any, and every front door refuses it.
func TestTokens_OfADisabledClientSaySo(t *testing.T) {
	ep := stack.Require(t, stack.Postgres)
	pool := stack.Pool(t, ep.DatabaseURL)
	code, _, errs := admin(t, ep.DatabaseURL, "clients", "add", "--name", "  test disabled tokens ")
	id := regexp.MustCompile(`client (\S+) \(test disabled tokens, free\)`).FindStringSubmatch(errs)
	if code != 0 || id == nil {
		t.Fatalf("clients add: exit status %d, %q; want the name trimmed", code, errs)
	}
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), `DELETE FROM access.client WHERE id = $1`, id[1]) })
	if code, _, errs := admin(t, ep.DatabaseURL, "tokens", "add", id[1]); code != 0 || strings.Contains(errs, "disabled") {
		t.Fatalf("tokens add of an enabled client: exit status %d, %q", code, errs)
	}
	if code, _, errs := admin(t, ep.DatabaseURL, "clients", "disable", id[1]); code != 0 {
		t.Fatalf("clients disable: exit status %d, %q", code, errs)
	}
	code, out, errs := admin(t, ep.DatabaseURL, "tokens", "add", id[1])
	if code != 0 || out == "" || !strings.Contains(errs, "client "+id[1]+" is disabled: its tokens are refused until `eliza clients enable "+id[1]+"`") {
		t.Fatalf("tokens add of a disabled client: exit status %d, %q, %q; want the token and that the client is disabled", code, out, errs)
	}
	code, out, _ = admin(t, ep.DatabaseURL, "tokens", "list", id[1])
	if code != 0 || strings.Count(out, "valid, but its client is disabled") != 3 {
		t.Fatalf("tokens list of a disabled client: exit status %d,\n%s\nwant its three tokens valid, but its client disabled", code, out)
	}
}

// A name stored before names were checked, with a line break and tabs in it, is listed
// quoted on its own row: printed as it was, it made rows and columns of its own (a fake
// admin client, here).
func TestClientsList_QuotesANameThatCouldNotBeAddedNow(t *testing.T) {
	ep := stack.Require(t, stack.Postgres)
	pool := stack.Pool(t, ep.DatabaseURL)
	var id string
	name := "test old name\n00000000-dead-beef\tadmin-looking\tpremium\ttrue"
	if err := pool.QueryRow(t.Context(), `INSERT INTO access.client (name) VALUES ($1) RETURNING id`, name).Scan(&id); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), `DELETE FROM access.client WHERE id = $1`, id) })
	code, out, errs := admin(t, ep.DatabaseURL, "clients", "list")
	if code != 0 || strings.Contains(out, "\n00000000-dead-beef") {
		t.Fatalf("clients list: exit status %d, %q,\n%s\nwant the name on its client's row", code, errs, out)
	}
	quoted := `"test old name\n00000000-dead-beef\tadmin-looking\tpremium\ttrue"`
	if !strings.Contains(out, "\n"+id+"  "+quoted+"  ") {
		t.Fatalf("clients list:\n%s\nwant the row of %s with its name quoted, %s", out, id, quoted)
	}
	// One with a right-to-left override, added before those were refused, would reorder the
	// rest of its row on a terminal.
	if err := pool.QueryRow(t.Context(), `UPDATE access.client SET name = $2 WHERE id = $1 RETURNING id`, id, "test \u202eevil").Scan(&id); err != nil {
		t.Fatal(err)
	}
	if code, out, _ = admin(t, ep.DatabaseURL, "clients", "list"); code != 0 || strings.Contains(out, "\u202e") || !strings.Contains(out, `"test \u202eevil"`) {
		t.Fatalf("clients list:\n%s\nwant the name with its override escaped", out)
	}
}

// On a database the migrations have not run on, a command says to run them, not only that a
// relation does not exist.
func TestAdmin_AnUnmigratedDatabaseIsSaidToBeSo(t *testing.T) {
	code, _, errs := admin(t, stack.EmptyDatabase(t), "clients", "list")
	if want := "DATABASE_URL: the database cannot be used: its schema is at version 0, and this build needs"; code != 1 || !strings.Contains(errs, want) || !strings.Contains(errs, "run migrate") {
		t.Fatalf("clients list: exit status %d, %q; want 1 and %q", code, errs, want)
	}
}
