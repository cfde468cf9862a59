package pgtranscript

import "github.com/beacon/eventdispatch/internal/transcript"

// ListenerPID returns the backend process id of s's listener connection, 0 while it has none,
// so that a test can break the connection from the server's side.
func ListenerPID(s *Store) uint32 { return s.hub.listenerPID() }

// Announce announces the wake-up for ev without waiting for it.
func Announce(s *Store, ev transcript.Event) { s.waker.announce(ev) }

// WakeRounds returns how many rounds of wake-ups s has taken to send.
func WakeRounds(s *Store) int {
	rounds, _ := s.waker.rounds.Stats()
	return rounds
}

// AcceptRounds returns how many rounds of acceptances s has taken to run, and how many
// acceptances are waiting for their round to run.
func AcceptRounds(s *Store) (rounds, waiting int) {
	return s.acceptor.rounds.Stats()
}

// ReserveRounds returns how many rounds of reservations s has taken to run, and how many
// reservations are waiting for their round to run.
func ReserveRounds(s *Store) (rounds, waiting int) {
	return s.reserver.rounds.Stats()
}

// FinishRounds returns how many rounds of finishings s has taken to run, and how many
// finishings are waiting for their round to run.
func FinishRounds(s *Store) (rounds, waiting int) {
	return s.finisher.rounds.Stats()
}

// PrepareRounds returns how many rounds of preparations s has taken to run, and how many
// preparations are waiting for their round to run.
func PrepareRounds(s *Store) (rounds, waiting int) {
	return s.preparer.rounds.Stats()
}

// UnsettledRounds is how many rounds Prepare reads a job not accepted yet in before it
// settles it alone.
const UnsettledRounds = len(unsettledPauses)
