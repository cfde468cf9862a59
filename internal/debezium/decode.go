package debezium

import "fmt"

// wireEnvelope is Debezium's change event envelope, as read: the whole value with schemas
// disabled, the "payload" with schemas enabled. Absent and null members are alike.
type wireEnvelope struct {
	// ruleOnly parses only the rule's columns of the rows (see DecodeRuleChange).
	ruleOnly            bool
	before, after       wireRow
	hasBefore, hasAfter bool
	source              Source
	hasSource, hasLSN   bool
	op                  string
	tsMs                int64
}

// where says where an envelope is in the value, for error messages: at the top, or under
// "payload".
type where struct{ envelope, source string }

var (
	atTop        = where{"", "source."}
	underPayload = where{"payload.", "payload.source."}
)

// DecodeSignalChange decodes one Kafka message value (JsonConverter, schemas enabled or
// disabled) carrying a Debezium change event of table datastore.signal.
//
// It returns ErrTombstone for a nil, empty or JSON null value, and for a schemas-enabled value
// without a payload ({"schema": null, "payload": null} is how old converters wrote null). For
// anything it cannot decode it returns an error wrapping ErrMalformed that names the field or
// column. The rules:
//
//   - the value must be JSON (RFC 8259: syntax errors anywhere, even in fields not used, are
//     malformed); object keys are matched exactly, and of a repeated key the last counts;
//   - op must be one of the Op constants, and source must be present with a numeric lsn, the
//     position consumers order changes by;
//   - for OpCreate, OpRead and OpUpdate, after is required, with id, recording, sensor_type,
//     channels and sample_type present and well-typed, id and recording not null (uuids
//     parsable and not the nil UUID); a NULL sensor_type, channels or sample_type reads as
//     empty, and a NULL element of channels as ""; before, when present, is held to the same
//     rules;
//   - but an OpUpdate whose after breaks them, and whose before gives the row's id (read as
//     a delete's), is no error: its Change has After nil and says why in Unreadable, so that
//     the row as it was stops counting; and an OpUpdate whose before breaks them and whose
//     after keeps them has Before nil and says why in Unreadable, so that the row it leaves
//     counts;
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
	return decodeSignalChange(value, false)
}

// DecodeRuleChange decodes value as DecodeSignalChange does, but parses only the columns
// that a recording's completeness depends on: id, recording, sensor_type, channels and
// sample_type. The other columns are checked as JSON and skipped: their fields in the Change
// are zero (Data is nil, Span is nil, InsertedAt is zero), and a value of theirs that would
// not parse, data that is not base64 say, is no error here. It is the dispatcher's decoder:
// what it cannot use it neither parses nor rejects.
func DecodeRuleChange(value []byte) (Change, error) {
	return decodeSignalChange(value, true)
}

func decodeSignalChange(value []byte, ruleOnly bool) (Change, error) {
	if len(value) == 0 {
		return Change{}, ErrTombstone
	}
	s := &scanner{b: value}
	switch s.peek() {
	case '{':
	case 'n':
		if err := s.literal("null"); err != nil {
			return Change{}, err
		}
		if err := s.end(); err != nil {
			return Change{}, err
		}
		return Change{}, ErrTombstone
	default:
		v, err := s.value()
		if err == nil {
			err = s.end()
		}
		if err != nil {
			return Change{}, err
		}
		return Change{}, fmt.Errorf("%w: not a Debezium envelope: the value is a JSON %s, want an object", ErrMalformed, kindOf(v))
	}
	top, payload := wireEnvelope{ruleOnly: ruleOnly}, wireEnvelope{ruleOnly: ruleOnly}
	var hasSchema, hasPayload bool
	err := s.members(func(key []byte) error {
		switch string(key) {
		case "schema":
			hasSchema = true
			_, err := s.value()
			return err
		case "payload":
			var err error
			hasPayload, err = s.object("", "payload", func(key []byte) error { return payload.member(s, underPayload, key) })
			return err
		}
		return top.member(s, atTop, key)
	})
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return Change{}, err
	}
	if s.typeErr != nil {
		return Change{}, s.typeErr
	}
	env := &top
	if env.op == "" {
		switch {
		case hasPayload:
			env = &payload
		case hasSchema:
			return Change{}, ErrTombstone // {"schema": ..., "payload": null}
		}
	}
	return env.change()
}

// member reads the envelope's member key; members it does not use are read and dropped.
func (env *wireEnvelope) member(s *scanner, at where, key []byte) error {
	var err error
	switch string(key) {
	case "before":
		env.before = wireRow{ruleOnly: env.ruleOnly}
		env.hasBefore, err = s.object(at.envelope, "before", func(key []byte) error { return env.before.member(s, key) })
	case "after":
		env.after = wireRow{ruleOnly: env.ruleOnly}
		env.hasAfter, err = s.object(at.envelope, "after", func(key []byte) error { return env.after.member(s, key) })
	case "source":
		env.source, env.hasLSN = Source{}, false
		env.hasSource, err = s.object(at.envelope, "source", func(key []byte) error { return env.sourceMember(s, at, key) })
	case "op":
		env.op, err = s.str(at.envelope, "op")
	case "ts_ms":
		env.tsMs, _, err = s.integer(at.envelope, "ts_ms")
	default:
		_, err = s.value()
	}
	return err
}

// sourceMember reads the member key of the envelope's source block.
func (env *wireEnvelope) sourceMember(s *scanner, at where, key []byte) error {
	var err error
	src := &env.source
	switch string(key) {
	case "lsn":
		src.LSN, env.hasLSN, err = s.integer(at.source, "lsn")
	case "txId":
		src.TxID, _, err = s.integer(at.source, "txId")
	case "ts_ms":
		src.TsMs, _, err = s.integer(at.source, "ts_ms")
	case "snapshot":
		src.Snapshot, err = s.str(at.source, "snapshot")
	case "schema":
		src.Schema, err = s.str(at.source, "schema")
	case "table":
		src.Table, err = s.str(at.source, "table")
	default:
		_, err = s.value()
	}
	return err
}

// change checks the envelope against the rules of DecodeSignalChange and converts it.
func (env *wireEnvelope) change() (Change, error) {
	op := Op(env.op)
	switch {
	case op == "":
		return Change{}, fmt.Errorf("%w: not a Debezium envelope: no op", ErrMalformed)
	case !op.valid():
		return Change{}, fmt.Errorf("%w: unknown op %q", ErrMalformed, env.op)
	case !env.hasSource:
		return Change{}, fmt.Errorf("%w: source is missing", ErrMalformed)
	case !env.hasLSN:
		return Change{}, fmt.Errorf("%w: source.lsn is missing", ErrMalformed)
	}
	ch := Change{Op: op, Source: env.source, TsMs: env.tsMs}
	var err error
	switch op {
	case OpCreate, OpRead, OpUpdate:
		if !env.hasAfter {
			return Change{}, fmt.Errorf("%w: op %q without after", ErrMalformed, env.op)
		}
		if ch.After, err = env.after.signal("after", false); err != nil {
			if op == OpUpdate && env.hasBefore {
				if before, berr := env.before.signal("before", true); berr == nil {
					ch.Before, ch.Unreadable = before, err
					return ch, nil
				}
			}
			return Change{}, err
		}
		if env.hasBefore {
			if ch.Before, err = env.before.signal("before", false); err != nil {
				if op != OpUpdate {
					return Change{}, err
				}
				// An update out of a row that could not be read (undoing one into it, say):
				// the row it leaves counts, and the old one never did.
				ch.Before, ch.Unreadable = nil, err
			}
		}
	case OpDelete:
		if !env.hasBefore {
			return Change{}, fmt.Errorf("%w: delete without before", ErrMalformed)
		}
		if ch.Before, err = env.before.signal("before", true); err != nil {
			return Change{}, err
		}
	}
	return ch, nil
}
