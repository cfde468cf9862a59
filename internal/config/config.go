// Package config loads a binary's settings from environment variables into a plain struct and
// reports a bad value by the name of the variable that holds it, so an operator knows what to
// fix. Fields name their variable with an `env:"NAME"` tag (nested structs allowed); defaults
// are not tags but the values of the struct handed to Load, built by one function per
// settings type, so that a default is written in exactly one place. Variables lists what a
// settings type reads and its defaults, for documentation and its checks.
package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Validator is implemented by settings that check their values once parsed; its errors
// should name the variable too.
type Validator interface {
	Validate() error
}

// Load returns defaults with every variable that is set (and not empty) in the environment
// parsed over it, the entries of its lists trimmed of spaces, and, if T is a Validator,
// validated. Each problem in the returned error
// starts with the variable's name, e.g. `SHUTDOWN_GRACE: time: invalid duration "soon"`.
func Load[T any](defaults T) (T, error) {
	cfg := defaults
	err := env.Parse(&cfg)
	trimLists(reflect.ValueOf(&cfg).Elem())
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
				msgs = append(msgs, fmt.Sprintf("%s: %v", name, plain(pe.Err)))
				continue
			}
		}
		msgs = append(msgs, e.Error())
	}
	return cfg, errors.New(strings.Join(msgs, "; "))
}

// plain says a number or a boolean that could not be read as a person would, not as strconv
// does ("strconv.ParseBool: parsing \"yes\": invalid syntax").
func plain(err error) error {
	var num *strconv.NumError
	if !errors.As(err, &num) {
		return err
	}
	switch {
	case num.Func == "ParseBool":
		return fmt.Errorf("%q: want true or false", num.Num)
	case errors.Is(num.Err, strconv.ErrRange):
		return fmt.Errorf("%q: too large", num.Num)
	case strings.HasPrefix(num.Func, "ParseInt") || strings.HasPrefix(num.Func, "ParseUint"):
		return fmt.Errorf("%q: want a whole number", num.Num)
	case num.Func == "ParseFloat":
		return fmt.Errorf("%q: want a number", num.Num)
	}
	return err
}

// trimLists trims the surrounding spaces of each entry of every list v reads (a []string
// field with an envSeparator), as people write them: "a:9092, b:9092". An entry left empty
// stays, for the settings' Validate to refuse.
func trimLists(v reflect.Value) {
	for i := range v.NumField() {
		f, fv := v.Type().Field(i), v.Field(i)
		switch {
		case fv.Kind() == reflect.Struct && f.IsExported():
			trimLists(fv)
		case fv.Kind() == reflect.Slice && f.Tag.Get("envSeparator") != "" && fv.Type().Elem().Kind() == reflect.String:
			for j := range fv.Len() {
				fv.Index(j).SetString(strings.TrimSpace(fv.Index(j).String()))
			}
		}
	}
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

// Variable is an environment variable a settings type reads, with its default written as
// an operator would write the value ("20s", "localhost:9092", "" when unset).
type Variable struct {
	Name    string
	Default string
}

// Variables lists the variables settings reads, in field order, with the values settings
// holds as their defaults. A variable read by two fields is listed once.
func Variables(settings any) []Variable {
	var out []Variable
	seen := map[string]bool{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		for i := range v.NumField() {
			f, fv := v.Type().Field(i), v.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
			if name == "" {
				if fv.Kind() == reflect.Struct {
					walk(fv)
				}
				continue
			}
			if !seen[name] {
				seen[name] = true
				out = append(out, Variable{Name: name, Default: format(fv, f.Tag.Get("envSeparator"))})
			}
		}
	}
	walk(reflect.ValueOf(settings))
	return out
}

// format writes v as the variable's value would be written.
func format(v reflect.Value, sep string) string {
	if d, ok := v.Interface().(time.Duration); ok {
		return FormatDuration(d)
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return ""
		}
		return format(v.Elem(), sep)
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = format(v.Index(i), sep)
		}
		if sep == "" {
			sep = ","
		}
		return strings.Join(parts, sep)
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	default:
		return fmt.Sprint(v.Interface())
	}
}

// FormatDuration writes d the short way people write durations: "10m" rather than Go's
// "10m0s", "24h" rather than "24h0m0s". time.ParseDuration reads it back.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
