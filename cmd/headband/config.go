package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/beacon/eventdispatch/internal/logging"
)

// settings are the environment variables of the headband simulator; the README's
// configuration table describes each.
type settings struct {
	DatabaseURL   string        `env:"DATABASE_URL" envDefault:"postgres://postgres:demo@localhost:5432/beacon?sslmode=disable"`
	AdminAddr     string        `env:"ADMIN_ADDR" envDefault:":9095"`
	ShutdownGrace time.Duration `env:"SHUTDOWN_GRACE" envDefault:"20s"`
	Interval      time.Duration `env:"HEADBAND_INTERVAL" envDefault:"5s"`
	MaxPause      time.Duration `env:"HEADBAND_MAX_PAUSE" envDefault:"10s"`
	Fast          bool          `env:"HEADBAND_FAST" envDefault:"false"`
	Recordings    int           `env:"HEADBAND_RECORDINGS" envDefault:"0"`
	// Seed is nil when HEADBAND_SEED is unset: then a random seed is drawn and logged.
	Seed        *uint64       `env:"HEADBAND_SEED"`
	MaxInFlight int           `env:"HEADBAND_MAX_IN_FLIGHT" envDefault:"16"`
	RetryFor    time.Duration `env:"HEADBAND_RETRY_FOR" envDefault:"1m"`
	Log         logging.Config
}

// validate checks what parsing cannot, naming each variable that is wrong.
// Validate checks the values, naming the variable that is wrong.
func (s settings) Validate() error {
	var errs []error
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", name, d))
		}
	}
	positive("SHUTDOWN_GRACE", s.ShutdownGrace)
	positive("HEADBAND_INTERVAL", s.Interval)
	positive("HEADBAND_RETRY_FOR", s.RetryFor)
	if s.MaxPause < 0 {
		errs = append(errs, fmt.Errorf("HEADBAND_MAX_PAUSE must not be negative, got %s", s.MaxPause))
	}
	if s.Recordings < 0 {
		errs = append(errs, fmt.Errorf("HEADBAND_RECORDINGS must be 0 (no limit) or more, got %d", s.Recordings))
	}
	if s.MaxInFlight < 1 {
		errs = append(errs, fmt.Errorf("HEADBAND_MAX_IN_FLIGHT must be at least 1, got %d", s.MaxInFlight))
	}
	return errors.Join(errs...)
}
