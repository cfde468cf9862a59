package frontdoor

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// strictJSON is the JSON codec of the front door's services: Connect's own, except that a
// field the message does not have is refused (InvalidArgument, naming it) instead of dropped,
// and that a string holding half of a UTF-16 surrogate pair is said to be that, not "proto:
// unexpected EOF". Connect drops unknown fields so that a client built on a newer schema can
// call an older server; here a hand-written JSON call is the more likely author of one, and a
// field it misspells would be dropped in silence: "conversationID" for conversationId starts
// a new conversation instead of continuing one, and "afterserial" skips the check of a Send's
// place. The binary protocols (grpcurl, the eliza CLI) are not affected. The web page sends
// JSON with the schema of the server that served it: a request field added to the protos
// must reach every front door before a page that sends it does (a page loaded from a new
// replica calling an old one, or pointed at an older server with ?server=).
type strictJSON struct{ name string }

// served are the front door's codecs, in place of Connect's: its JSON ones, under both of
// their names (strictJSON), and its binary one (binaryProto).
var served = []connect.Codec{strictJSON{name: "json"}, strictJSON{name: "json; charset=utf-8"}, binaryProto{}}

// codecs are the handler options that serve the codecs served.
func codecs() []connect.HandlerOption {
	opts := make([]connect.HandlerOption, len(served))
	for i, c := range served {
		opts[i] = connect.WithCodec(c)
	}
	return opts
}

// servedOnly sends a request to gated when its codec is one served, and to plain when not:
// connect answers it 415 Unsupported Media Type (with the codecs it serves), where the gate
// answered for its token first, 401 say, for a call that could never be served. A request
// whose codec it cannot tell goes to gated, as before.
func servedOnly(gated, plain http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if codec, ok := codecOf(r); ok && !servedCodecs[codec] {
			plain.ServeHTTP(w, r)
			return
		}
		gated.ServeHTTP(w, r)
	})
}

// servedCodecs are the names of the codecs served.
var servedCodecs = func() map[string]bool {
	names := map[string]bool{}
	for _, c := range served {
		names[c.Name()] = true
	}
	return names
}()

// codecOf names the codec a request asks for, as connect reads it: a Connect GET's encoding
// parameter; the suffix of gRPC's and gRPC-Web's content types (+json), proto without one;
// the rest of a Connect content type after "application/" ("connect+" for its streams). The
// content type is taken with its parameters in one form (a charset in lower case), and false
// when it cannot be read.
func codecOf(r *http.Request) (string, bool) {
	if r.Method == http.MethodGet {
		return r.URL.Query().Get("encoding"), true
	}
	ct := r.Header.Get("Content-Type")
	if strings.IndexFunc(ct, notPlain) >= 0 { // parameters, capitals: not in the one form yet
		base, params, err := mime.ParseMediaType(ct)
		if err != nil {
			return "", false
		}
		if cs, ok := params["charset"]; ok {
			params["charset"] = strings.ToLower(cs)
		}
		ct = mime.FormatMediaType(base, params)
	}
	for _, p := range []string{"application/grpc-web", "application/grpc"} {
		if ct == p {
			return "proto", true
		}
		if rest, ok := strings.CutPrefix(ct, p+"+"); ok {
			return rest, true
		}
	}
	if rest, ok := strings.CutPrefix(ct, "application/connect+"); ok {
		return rest, true
	}
	if rest, ok := strings.CutPrefix(ct, "application/"); ok {
		return rest, true
	}
	return "", false
}

// notPlain reports whether c has no place in a content type without parameters in lower case
// ("application/grpc-web+proto"), as clients send nearly every call's: those are taken as
// they are, without parsing them on every call.
func notPlain(c rune) bool {
	return (c < 'a' || c > 'z') && c != '/' && c != '+' && c != '-' && c != '.'
}

// binaryProto is Connect's binary codec, except that a message that cannot be read is said
// with the protobuf name of the message it is not ("not a connectrpc.eliza.v1.SayRequest"),
// where Connect's named a Go type of this server's ("unmarshal into *elizav1.SayRequest"),
// which means nothing to a client.
type binaryProto struct{}

func (binaryProto) Name() string   { return "proto" }
func (binaryProto) IsBinary() bool { return true }

func (binaryProto) Marshal(message any) ([]byte, error) {
	return binaryProto{}.MarshalAppend(nil, message)
}

// MarshalAppend lets Connect marshal into a buffer of its pool, as it does with its own codec.
func (binaryProto) MarshalAppend(dst []byte, message any) ([]byte, error) {
	m, err := protoMessage(message)
	if err != nil {
		return nil, err
	}
	return proto.MarshalOptions{}.MarshalAppend(dst, m)
}

// MarshalStable writes fields in the same order for equal messages (Connect's clients call it
// for GET requests; this codec serves).
func (binaryProto) MarshalStable(message any) ([]byte, error) {
	m, err := protoMessage(message)
	if err != nil {
		return nil, err
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

func (binaryProto) Unmarshal(data []byte, message any) error {
	m, err := protoMessage(message)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(data, m); err != nil {
		return fmt.Errorf("not a %s in protobuf's binary form: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	return nil
}

// protoMessage is message as the protobuf message every message of this service is.
func protoMessage(message any) (proto.Message, error) {
	m, ok := message.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T is not a protobuf message", message)
	}
	return m, nil
}

func (c strictJSON) Name() string { return c.name }

// IsBinary tells Connect that a GET request's message is JSON text, as its own codec's is.
func (strictJSON) IsBinary() bool { return false }

func (strictJSON) Marshal(message any) ([]byte, error) {
	m, err := protoMessage(message)
	if err != nil {
		return nil, err
	}
	return protojson.Marshal(m)
}

// MarshalStable is Marshal: protojson writes fields in their numbers' order. (Connect's
// clients call it for GET requests; this codec serves.)
func (c strictJSON) MarshalStable(message any) ([]byte, error) { return c.Marshal(message) }

func (strictJSON) Unmarshal(data []byte, message any) error {
	m, err := protoMessage(message)
	if err != nil {
		return err
	}
	if len(data) == 0 {
		return errors.New("an empty body is not a JSON object")
	}
	if err := protojson.Unmarshal(data, m); err != nil {
		// protojson reads a lone surrogate as the end of the text; an error it names otherwise
		// (an unknown field before it) stands.
		if at, found := loneSurrogate(data); found && !strings.Contains(err.Error(), "unknown field") {
			return fmt.Errorf("the JSON text's escape at byte %d is half of a UTF-16 surrogate pair without its other half, which is no character", at)
		}
		return err
	}
	return nil
}

// loneSurrogate finds, inside a JSON string of data, a \u escape of a surrogate (U+D800 to
// U+DFFF) that is not one of a high-then-low pair, and returns its offset.
func loneSurrogate(data []byte) (int, bool) {
	inString := false
	highAt := -1 // a high surrogate's escape just read, waiting for its low half
	for i := 0; i < len(data); i++ {
		b := data[i]
		if !inString {
			inString = b == '"'
			continue
		}
		if b != '\\' {
			if highAt >= 0 {
				return highAt, true
			}
			inString = b != '"'
			continue
		}
		if i+1 >= len(data) {
			break
		}
		if data[i+1] != 'u' {
			if highAt >= 0 {
				return highAt, true
			}
			i++ // \" \\ \n and the like: one character
			continue
		}
		r, ok := hex4(data[i+2:])
		if !ok {
			break // not an escape protojson accepts either: its error says so
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if highAt >= 0 {
				return highAt, true
			}
			highAt = i
		case r >= 0xDC00 && r < 0xE000:
			if highAt < 0 {
				return i, true
			}
			highAt = -1
		default:
			if highAt >= 0 {
				return highAt, true
			}
		}
		i += 5
	}
	return highAt, highAt >= 0
}

// hex4 reads four hexadecimal digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
