package access

import "net/http"

// WithHeader returns a transport that sends header name with value on every request through
// next: how a client of a front door with AUTH sends its token ("Authorization", "Bearer "+
// token, or "X-Token", token).
func WithHeader(next http.RoundTripper, name, value string) http.RoundTripper {
	return headerTransport{next: next, name: name, value: value}
}

type headerTransport struct {
	next        http.RoundTripper
	name, value string
}

func (h headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context()) // a RoundTripper must not change the request it is given
	req.Header.Set(h.name, h.value)
	return h.next.RoundTrip(req)
}
