// Package config loads a binary's settings from environment variables into a plain struct
// (fields tagged `env:"NAME" envDefault:"..."`, nested structs allowed) and reports a bad value
// by the name of the variable that holds it, so an operator knows what to fix.
package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/caarlos0/env/v11"
)

// Validator is implemented by settings that check their values once parsed; its errors
// should name the variable too.
type Validator interface {
	Validate() error
}

// Load parses the environment into a T and, if T is a Validator, validates it. Each problem in
// the returned error starts with the variable's name, e.g.
// `SHUTDOWN_GRACE: time: invalid duration "soon"`.
func Load[T any]() (T, error) {
	cfg, err := env.ParseAs[T]()
	if err == nil {
		if v, ok := any(cfg).(Validator); ok {
			err = v.Validate()
		}
		return cfg, err
	}
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return cfg, err
	}
	msgs := make([]string, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if name := envName(reflect.TypeFor[T](), pe.Name); name != "" {
				msgs = append(msgs, fmt.Sprintf("%s: %v", name, pe.Err))
				continue
			}
		}
		msgs = append(msgs, e.Error())
	}
	return cfg, errors.New(strings.Join(msgs, "; "))
}

// envName finds the env tag of the field called field anywhere in t, or "".
func envName(t reflect.Type, field string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return ""
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == field {
			if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
				return name
			}
		}
		if name := envName(f.Type, field); name != "" {
			return name
		}
	}
	return ""
}
