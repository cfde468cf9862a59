package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Per-request timeouts, as stack.sh gave curl (-m).
const (
	configTimeout  = 10 * time.Second
	putTimeout     = 30 * time.Second
	statusTimeout  = 5 * time.Second
	restartTimeout = 30 * time.Second
)

// errNotFound is Connect's 404 for a connector: it is not registered.
var errNotFound = errors.New("not registered")

// httpError is an answer of Connect outside 2xx.
type httpError struct {
	code int
	// message is Connect's error message ({"error_code", "message"}), or the body.
	message string
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.message) }

// client talks to Kafka Connect's REST API about one connector.
type client struct {
	base string // e.g. http://127.0.0.1:8083
	name string
	http *http.Client
}

// config returns the connector's registered config (GET /connectors/NAME/config), or
// errNotFound.
func (c *client) config(ctx context.Context) (map[string]json.RawMessage, error) {
	body, err := c.do(ctx, http.MethodGet, "/config", nil, configTimeout)
	if err != nil {
		return nil, err
	}
	var config map[string]json.RawMessage
	if err := json.Unmarshal(body, &config); err != nil {
		return nil, fmt.Errorf("config of %s: %w", c.name, err)
	}
	return config, nil
}

// putConfig creates or updates the connector with config (PUT /connectors/NAME/config).
func (c *client) putConfig(ctx context.Context, config []byte) error {
	_, err := c.do(ctx, http.MethodPut, "/config", config, putTimeout)
	return err
}

// status returns the connector's state and its tasks' (GET /connectors/NAME/status), or
// errNotFound.
func (c *client) status(ctx context.Context) (status, error) {
	body, err := c.do(ctx, http.MethodGet, "/status", nil, statusTimeout)
	if err != nil {
		return status{}, err
	}
	return parseStatus(body)
}

// restartFailed restarts the connector and tasks that are FAILED, and only those.
func (c *client) restartFailed(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodPost, "/restart?includeTasks=true&onlyFailed=true", nil, restartTimeout)
	return err
}

// do sends one request about the connector and returns the body of a 2xx answer; otherwise
// errNotFound for a 404 of a GET, an *httpError, or the transport's error.
func (c *client) do(ctx context.Context, method, suffix string, body []byte, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	target := c.base + "/connectors/" + url.PathEscape(c.name) + suffix
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, target, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read the answer: %w", method, target, err)
	}
	if resp.StatusCode/100 == 2 {
		return answer, nil
	}
	if resp.StatusCode == http.StatusNotFound && method == http.MethodGet {
		return nil, errNotFound
	}
	return nil, &httpError{code: resp.StatusCode, message: errorMessage(answer)}
}

// errorMessage is the "message" of a Connect error body, or the body on one line.
func errorMessage(body []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		return e.Message
	}
	return strings.Join(strings.Fields(string(body)), " ")
}

// status is Connect's GET /connectors/NAME/status.
type status struct {
	Connector struct {
		State string `json:"state"`
		Trace string `json:"trace"`
	} `json:"connector"`
	// Tasks are sorted by ID.
	Tasks []taskStatus `json:"tasks"`
}

// taskStatus is one task in a status.
type taskStatus struct {
	ID    int    `json:"id"`
	State string `json:"state"`
	Trace string `json:"trace"`
}

// Connector and task states that matter here (Connect also has UNASSIGNED, PAUSED, STOPPED,
// RESTARTING).
const (
	stateRunning = "RUNNING"
	stateFailed  = "FAILED"
)

// parseStatus decodes a status answer; it must name the connector's state.
func parseStatus(body []byte) (status, error) {
	var st status
	if err := json.Unmarshal(body, &st); err != nil {
		return status{}, fmt.Errorf("connector status: %w", err)
	}
	if st.Connector.State == "" {
		return status{}, errors.New("connector status: no connector.state in the answer")
	}
	slices.SortFunc(st.Tasks, func(a, b taskStatus) int { return a.ID - b.ID })
	return st, nil
}

// running reports the connector RUNNING with at least one task, every task RUNNING.
func (s status) running() bool {
	if s.Connector.State != stateRunning || len(s.Tasks) == 0 {
		return false
	}
	for _, t := range s.Tasks {
		if t.State != stateRunning {
			return false
		}
	}
	return true
}

// failed reports the connector or any task FAILED.
func (s status) failed() bool {
	return s.Connector.State == stateFailed ||
		slices.ContainsFunc(s.Tasks, func(t taskStatus) bool { return t.State == stateFailed })
}

// taskStates are the tasks' states in task order, space-separated.
func (s status) taskStates() string {
	states := make([]string, len(s.Tasks))
	for i, t := range s.Tasks {
		states[i] = t.State
	}
	return strings.Join(states, " ")
}

// states is the connector's state, then its tasks': "RUNNING RUNNING".
func (s status) states() string {
	return strings.TrimSpace(s.Connector.State + " " + s.taskStates())
}

// describe says the states in words: "connector RUNNING, tasks: RUNNING".
func (s status) describe() string {
	tasks := s.taskStates()
	if tasks == "" {
		tasks = "none"
	}
	return "connector " + s.Connector.State + ", tasks: " + tasks
}

// details lists the states with the start of each failure's trace, at most limit lines.
func (s status) details(limit int) []string {
	lines := []string{"  connector " + s.Connector.State}
	lines = append(lines, traceLines(s.Connector.Trace)...)
	for _, t := range s.Tasks {
		lines = append(lines, fmt.Sprintf("  task %d %s", t.ID, t.State))
		lines = append(lines, traceLines(t.Trace)...)
	}
	if len(lines) > limit {
		lines = append(lines[:limit-1], "    …")
	}
	return lines
}

// traceLines indents a Java stack trace's lines.
func traceLines(trace string) []string {
	trace = strings.TrimSpace(trace)
	if trace == "" {
		return nil
	}
	lines := strings.Split(trace, "\n")
	for i, l := range lines {
		lines[i] = "    " + strings.TrimSpace(l)
	}
	return lines
}
