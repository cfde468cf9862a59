package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Level string `env:"TEST_LEVEL" envDefault:"info"`
}

type sample struct {
	Grace time.Duration `env:"TEST_GRACE" envDefault:"20s"`
	Count int           `env:"TEST_COUNT" envDefault:"3"`
	Inner inner
}

func TestLoad_AppliesDefaults(t *testing.T) {
	cfg, err := Load[sample]()
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
	cfg, err := Load[sample]()
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
	_, err := Load[sample]()
	if err == nil {
		t.Fatal("want an error for unparsable values")
	}
	for _, name := range []string{"TEST_GRACE:", "TEST_COUNT:"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

type checked struct {
	Count int `env:"TEST_CHECKED_COUNT" envDefault:"1"`
}

func (c checked) Validate() error {
	if c.Count < 1 {
		return errors.New("TEST_CHECKED_COUNT: must be at least 1")
	}
	return nil
}

func TestLoad_ValidatesSettingsThatCanCheckThemselves(t *testing.T) {
	if _, err := Load[checked](); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_CHECKED_COUNT", "0")
	if _, err := Load[checked](); err == nil || !strings.Contains(err.Error(), "TEST_CHECKED_COUNT") {
		t.Fatalf("want the validation error naming the variable, got %v", err)
	}
}
