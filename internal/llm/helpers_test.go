package llm

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// scripted is a model whose answers are set by the test: the next errors in order, then
// fallback (nil means an answer).
type scripted struct {
	mu       sync.Mutex
	errs     []error
	fallback error
	calls    int
}

func (s *scripted) call(ctx context.Context, req Request) (Response, error) {
	s.mu.Lock()
	s.calls++
	err := s.fallback
	if len(s.errs) > 0 {
		err, s.errs = s.errs[0], s.errs[1:]
	}
	s.mu.Unlock()
	if err != nil {
		return Response{}, err
	}
	return Response{Text: "answer to " + req.Sentence, PromptTokens: 7, CompletionTokens: 3}, nil
}

func (s *scripted) setFallback(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fallback = err
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// status builds the error NewOpenAI returns for an error answer; headers are name, value pairs.
func status(code int, headers ...string) error {
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	return &StatusError{Status: code, Header: h, Err: errAPI(code)}
}

type errAPI int

func (e errAPI) Error() string { return "API error " + strconv.Itoa(int(e)) }

// clock is a fake clock for the retry and limiter tests: sleeping advances it at once and
// records the wait.
type clock struct {
	mu    sync.Mutex
	t     time.Time
	slept []time.Duration
}

func newClock() *clock { return &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	c.t = c.t.Add(d)
	return nil
}

func (c *clock) waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}
