package debezium

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// wireEnvelope is Debezium's change event envelope: the whole value with schemas disabled,
// the "payload" with schemas enabled.
type wireEnvelope struct {
	Before *wireRow    `json:"before"`
	After  *wireRow    `json:"after"`
	Source *wireSource `json:"source"`
	Op     string      `json:"op"`
	TsMs   int64       `json:"ts_ms"`
}

// wireSource is the envelope's "source" block, the fields of it this package uses.
type wireSource struct {
	LSN      *int64 `json:"lsn"`
	TxID     int64  `json:"txId"`
	TsMs     int64  `json:"ts_ms"`
	Snapshot string `json:"snapshot"`
	Schema   string `json:"schema"`
	Table    string `json:"table"`
}

// wireMessage is a message value in either converter form, read in one pass: with schemas
// disabled the envelope's fields are at the top; with schemas enabled they are under
// "payload", and the sibling "schema" is skipped unread (only its presence is noted).
type wireMessage struct {
	wireEnvelope
	Schema  seen          `json:"schema"`
	Payload *wireEnvelope `json:"payload"`
}

// seen records that a field was there, whatever its value, without keeping the value.
type seen bool

func (s *seen) UnmarshalJSON([]byte) error { *s = true; return nil }

// DecodeSignalChange decodes one Kafka message value (JsonConverter, schemas enabled or
// disabled) carrying a Debezium change event of table datastore.signal.
//
// It returns ErrTombstone for a nil, empty or JSON null value, and for a schemas-enabled value
// without a payload ({"schema": null, "payload": null} is how old converters wrote null). For
// anything it cannot decode it returns an error wrapping ErrMalformed that names the field or
// column. The rules:
//
//   - op must be one of the Op constants, and source must be present with a numeric lsn, the
//     position consumers order changes by;
//   - for OpCreate, OpRead and OpUpdate, after is required, with id, recording, sensor_type,
//     channels and sample_type present, non-null and well-typed (uuids parsable and not the
//     nil UUID); before, when present, is held to the same rules;
//   - for OpDelete, before is required with a valid id; its other columns are read
//     best-effort because Debezium fills them with placeholders (see Change.Before); after
//     is ignored;
//   - for OpTruncate neither before nor after is read;
//   - other columns are optional: absent or null gives the zero value, but a present value of
//     the wrong type or that does not parse (data not base64, span not a range) is malformed.
//
// The schema of the schemas-enabled form is not checked, and the table name is not
// insisted on (see Source).
func DecodeSignalChange(value []byte) (Change, error) {
	if len(value) == 0 {
		return Change{}, ErrTombstone
	}
	var msg wireMessage
	if err := json.Unmarshal(value, &msg); err != nil {
		return Change{}, jsonError(err)
	}
	env := &msg.wireEnvelope
	if env.Op == "" {
		switch {
		case msg.Payload != nil:
			env = msg.Payload
		case bool(msg.Schema):
			return Change{}, ErrTombstone // {"schema": ..., "payload": null}
		case string(bytes.TrimSpace(value)) == "null":
			return Change{}, ErrTombstone
		}
	}
	return env.change()
}

// change checks the envelope against the rules of DecodeSignalChange and converts it.
func (env *wireEnvelope) change() (Change, error) {
	op := Op(env.Op)
	switch {
	case op == "":
		return Change{}, fmt.Errorf("%w: not a Debezium envelope: no op", ErrMalformed)
	case !op.valid():
		return Change{}, fmt.Errorf("%w: unknown op %q", ErrMalformed, env.Op)
	case env.Source == nil:
		return Change{}, fmt.Errorf("%w: source is missing", ErrMalformed)
	case env.Source.LSN == nil:
		return Change{}, fmt.Errorf("%w: source.lsn is missing", ErrMalformed)
	}
	ch := Change{
		Op: op,
		Source: Source{
			LSN:      *env.Source.LSN,
			TxID:     env.Source.TxID,
			TsMs:     env.Source.TsMs,
			Snapshot: env.Source.Snapshot,
			Schema:   env.Source.Schema,
			Table:    env.Source.Table,
		},
		TsMs: env.TsMs,
	}
	var err error
	switch op {
	case OpCreate, OpRead, OpUpdate:
		if env.After == nil {
			return Change{}, fmt.Errorf("%w: op %q without after", ErrMalformed, env.Op)
		}
		if ch.After, err = env.After.signal("after", false); err != nil {
			return Change{}, err
		}
		if env.Before != nil {
			if ch.Before, err = env.Before.signal("before", false); err != nil {
				return Change{}, err
			}
		}
	case OpDelete:
		if env.Before == nil {
			return Change{}, fmt.Errorf("%w: delete without before", ErrMalformed)
		}
		if ch.Before, err = env.Before.signal("before", true); err != nil {
			return Change{}, err
		}
	}
	return ch, nil
}

// jsonError describes an encoding/json error as a malformed event, naming the field for a
// type mismatch.
func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Errorf("%w: not JSON: %w", ErrMalformed, err)
	case errors.As(err, &typ) && typ.Field == "":
		return fmt.Errorf("%w: not a Debezium envelope: the value is a JSON %s, want an object", ErrMalformed, typ.Value)
	case errors.As(err, &typ):
		return fmt.Errorf("%w: %s: want %s, got JSON %s", ErrMalformed, typ.Field, jsonKind(typ.Type), typ.Value)
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

// jsonKind names the JSON type that decodes into t, for error messages.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	}
	return t.String()
}
