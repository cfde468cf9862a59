package benchkit

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
)

// StackHint ends the error of a preflight check that found part of the stack down.
const StackHint = "; start the stack with `make stack-up`"

// KafkaReachable checks that the first of brokers accepts a TCP connection.
func KafkaReachable(ctx context.Context, brokers []string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		return fmt.Errorf("kafka at KAFKA_BROKERS: %w%s", err, StackHint)
	}
	_ = conn.Close()
	return nil
}

// GetJSON GETs url with client (Kafka Connect's REST API) and decodes its JSON answer into v.
// An answer other than 200 OK is an error.
func GetJSON(ctx context.Context, client *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
