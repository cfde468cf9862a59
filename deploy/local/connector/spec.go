package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
)

// spec is the connector as its file defines it.
type spec struct {
	// path is the file as given on the command line, for messages.
	path string
	// name is the file's "name" key.
	name string
	// config is every key of the file, "name" included, as Connect's GET .../config returns it.
	config map[string]json.RawMessage
	// raw is the file as it is: the body of PUT .../config.
	raw []byte
}

// loadSpec reads a connector file: one flat JSON object with a non-empty string "name".
func loadSpec(path string) (spec, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return spec{}, fmt.Errorf("read the connector file: %w", err)
	}
	var config map[string]json.RawMessage
	if err := json.Unmarshal(raw, &config); err != nil {
		return spec{}, fmt.Errorf("%s is not a JSON object: %w", path, err)
	}
	var name string
	if v, ok := config["name"]; ok {
		if err := json.Unmarshal(v, &name); err != nil {
			return spec{}, fmt.Errorf("%s: \"name\" is not a string", path)
		}
	}
	if name == "" {
		return spec{}, fmt.Errorf("no \"name\" in %s", path)
	}
	return spec{path: path, name: name, config: config, raw: raw}, nil
}

// diffConfig returns, sorted, the keys whose values differ between two connector configs,
// including keys only one of them has. Values are compared as Connect holds them, as strings:
// a JSON string by its content, anything else by its canonical JSON text (so 1 equals "1",
// true equals "true", and objects compare whatever their key order or spacing).
func diffConfig(a, b map[string]json.RawMessage) []string {
	var keys []string
	for k, va := range a {
		if vb, ok := b[k]; !ok || configValue(va) != configValue(vb) {
			keys = append(keys, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// configValue is v as Connect would store it: a string's content, or canonical JSON text.
func configValue(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber() // keep numbers as written: no float rounding
	var x any
	if dec.Decode(&x) != nil {
		return string(v)
	}
	canonical, err := json.Marshal(x) // maps marshal with sorted keys
	if err != nil {
		return string(v)
	}
	return string(canonical)
}
