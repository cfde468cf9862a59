package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Level string `env:"TEST_LEVEL"`
}

type sample struct {
	Grace   time.Duration `env:"TEST_GRACE"`
	Count   int           `env:"TEST_COUNT"`
	Fast    bool          `env:"TEST_FAST"`
	Brokers []string      `env:"TEST_BROKERS" envSeparator:","`
	Seed    *uint64       `env:"TEST_SEED"`
	Inner   inner
	Again   inner // a second field reading TEST_LEVEL
}

func defaults() sample {
	return sample{Grace: 20 * time.Second, Count: 3, Brokers: []string{"a:1", "b:2"}, Inner: inner{Level: "info"}}
}

func TestLoad_AppliesDefaults(t *testing.T) {
	cfg, err := Load(defaults())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Grace != 20*time.Second || cfg.Count != 3 || cfg.Inner.Level != "info" {
		t.Fatalf("defaults not applied: %+v", cfg)
	}
}

func TestLoad_ReadsEnvironment(t *testing.T) {
	t.Setenv("TEST_GRACE", "2s")
	t.Setenv("TEST_LEVEL", "debug")
	cfg, err := Load(defaults())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Grace != 2*time.Second || cfg.Inner.Level != "debug" {
		t.Fatalf("environment not read: %+v", cfg)
	}
}

func TestLoad_NamesTheVariableThatIsWrong(t *testing.T) {
	t.Setenv("TEST_GRACE", "soon")
	t.Setenv("TEST_COUNT", "many")
	_, err := Load(defaults())
	if err == nil {
		t.Fatal("want an error for unparsable values")
	}
	for _, name := range []string{"TEST_GRACE:", "TEST_COUNT:"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

// A number or a boolean that cannot be read is said as a person would say it, not as
// strconv does ("strconv.ParseBool: parsing \"yes\": invalid syntax").
func TestLoad_SaysWhatANumberOrABooleanShouldBe(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"TEST_FAST", "yes", `TEST_FAST: "yes": want true or false`},
		{"TEST_COUNT", "many", `TEST_COUNT: "many": want a whole number`},
		{"TEST_COUNT", "99999999999999999999", `TEST_COUNT: "99999999999999999999": too large`},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Setenv(tc.name, tc.value)
			if _, err := Load(defaults()); err == nil || err.Error() != tc.want {
				t.Errorf("%v, want %q", err, tc.want)
			}
		})
	}
}

type checked struct {
	Count int `env:"TEST_CHECKED_COUNT"`
}

func (c checked) Validate() error {
	if c.Count < 1 {
		return errors.New("TEST_CHECKED_COUNT: must be at least 1")
	}
	return nil
}

func TestLoad_ValidatesSettingsThatCanCheckThemselves(t *testing.T) {
	if _, err := Load(checked{Count: 1}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_CHECKED_COUNT", "0")
	if _, err := Load(checked{Count: 1}); err == nil || !strings.Contains(err.Error(), "TEST_CHECKED_COUNT") {
		t.Fatalf("want the validation error naming the variable, got %v", err)
	}
}

func TestVariables_ListsEachVariableOnceWithItsDefaultAsAnOperatorWritesIt(t *testing.T) {
	got := Variables(defaults())
	want := []Variable{
		{"TEST_GRACE", "20s"}, {"TEST_COUNT", "3"}, {"TEST_FAST", "false"}, {"TEST_BROKERS", "a:1,b:2"}, {"TEST_SEED", ""}, {"TEST_LEVEL", "info"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("variable %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

func TestFormatDuration_WritesWhatPeopleWriteAndParsesBack(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Millisecond: "5ms", 20 * time.Second: "20s", 10 * time.Minute: "10m", 90 * time.Second: "1m30s",
		24 * time.Hour: "24h", 2*time.Hour + 30*time.Minute: "2h30m", 0: "0s",
	} {
		got := FormatDuration(d)
		if got != want {
			t.Errorf("%v: got %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(got); err != nil || back != d {
			t.Errorf("%q parses back to %v, %v", got, back, err)
		}
	}
}

// A list is written as people write lists: "a:1, b:2". Its entries lose their spaces; an
// empty one stays, for Validate to refuse.
func TestLoad_TrimsTheEntriesOfLists(t *testing.T) {
	t.Setenv("TEST_BROKERS", " a:1 ,b:2,\t,c:3 ")
	cfg, err := Load(defaults())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(cfg.Brokers, "|"), "a:1|b:2||c:3"; got != want {
		t.Fatalf("TEST_BROKERS read as %q, want %q", got, want)
	}
}
