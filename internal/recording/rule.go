package recording

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// Requirement says what a signal must be to fill one role of process_record.
type Requirement struct {
	// SensorType is the signal's sensor_type, e.g. "eeg".
	SensorType string
	// Channels must all be among the signal's channels; the signal may have more.
	Channels []string
}

// Rule is the completeness rule: a recording is complete when some signal meets EEG and
// some signal meets Accelerometer.
type Rule struct {
	EEG           Requirement
	Accelerometer Requirement
}

// DefaultRule is the headband's rule.
func DefaultRule() Rule {
	return Rule{
		EEG:           Requirement{SensorType: "eeg", Channels: []string{"f7-o1", "f8-o2", "f8-f7", "f8-o1", "f7-o2"}},
		Accelerometer: Requirement{SensorType: "accelerometer", Channels: []string{"x", "y", "z"}},
	}
}

// SampleTypes are the values of datastore.sample_type. A signal with any other sample type is
// invalid and never qualifies.
var SampleTypes = []string{"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64"}

// Complete is a recording whose signals are complete: the arguments of process_record.
type Complete struct {
	Recording           uuid.UUID
	EEGSignal           uuid.UUID
	AccelerometerSignal uuid.UUID
}

// Evaluate returns the complete set if signals (those of one recording that are present)
// satisfy the rule. Deleted and invalid signals never qualify.
func (r Rule) Evaluate(recording uuid.UUID, signals []Signal) (Complete, bool) {
	eeg, okEEG := r.choose(r.EEG, signals)
	acc, okAcc := r.choose(r.Accelerometer, signals)
	if !okEEG || !okAcc {
		return Complete{}, false
	}
	return Complete{Recording: recording, EEGSignal: eeg, AccelerometerSignal: acc}, true
}

// Qualifies reports whether s, present, could fill a role of process_record: a change that
// leaves its signal unable to (another sensor type, channels missing, invalid values) cannot
// make its recording complete, and need not be judged with the recording's other signals.
func (r Rule) Qualifies(s Signal) bool {
	return !s.Deleted && (meets(r.EEG, s) || meets(r.Accelerometer, s)) && Validate(s) == nil
}

// Missing returns what signals (those of one recording that are present) lack for the rule:
// the roles of process_record that no valid signal fills, each named by its sensor type. It
// is empty exactly when Evaluate finds the recording complete.
func (r Rule) Missing(signals []Signal) []string {
	var out []string
	for _, req := range []Requirement{r.EEG, r.Accelerometer} {
		if _, ok := r.choose(req, signals); !ok {
			out = append(out, req.SensorType)
		}
	}
	return out
}

// choose returns the lowest ID among the signals that meet req.
func (r Rule) choose(req Requirement, signals []Signal) (uuid.UUID, bool) {
	var best uuid.UUID
	found := false
	for _, s := range signals {
		if s.Deleted || !meets(req, s) || Validate(s) != nil {
			continue
		}
		if !found || strings.Compare(string(s.ID[:]), string(best[:])) < 0 {
			best, found = s.ID, true
		}
	}
	return best, found
}

func meets(req Requirement, s Signal) bool {
	if s.SensorType != req.SensorType {
		return false
	}
	for _, c := range req.Channels {
		if !slices.Contains(s.Channels, c) {
			return false
		}
	}
	return true
}

// Validate reports why a signal's values are invalid, or nil. Invalid signals are kept (a
// later update may fix them) but never qualify.
func Validate(s Signal) error {
	if valid(s) {
		return nil
	}
	var problems []error
	if !slices.Contains(SampleTypes, s.SampleType) {
		problems = append(problems, fmt.Errorf("unknown sample_type %q", s.SampleType))
	}
	if len(s.Channels) == 0 {
		problems = append(problems, errors.New("no channels"))
	}
	seen := make(map[string]bool, len(s.Channels))
	for _, c := range s.Channels {
		switch {
		case c == "":
			// The decoder reads a NULL element of the text[] as "" too.
			problems = append(problems, errors.New("an empty or NULL channel name"))
		case strings.TrimSpace(c) == "" || c != strings.TrimSpace(c):
			problems = append(problems, fmt.Errorf("malformed channel name %q", c))
		case seen[c]:
			problems = append(problems, fmt.Errorf("duplicate channel %q", c))
		}
		seen[c] = true
	}
	return errors.Join(problems...)
}

// maxQuickChannels bounds the channels valid compares pairwise; a signal with more is checked
// by Validate's own loop.
const maxQuickChannels = 32

// valid reports, without allocating, that s has none of the problems Validate reports: the
// common case, which every judgement of a recording asks of each of its signals.
func valid(s Signal) bool {
	if len(s.Channels) == 0 || len(s.Channels) > maxQuickChannels || !slices.Contains(SampleTypes, s.SampleType) {
		return false
	}
	for i, c := range s.Channels {
		if c == "" || strings.TrimSpace(c) != c || slices.Contains(s.Channels[:i], c) {
			return false
		}
	}
	return true
}
