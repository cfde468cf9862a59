package webui_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/proctest"
)

// watchesCounted serves the page and the service at rpc through a proxy that can be taken
// down (as a network gone would be), counting the Watches that reach it. It returns the
// proxy's address, the proxy and the count.
func watchesCounted(t *testing.T, rpc string) (addr string, down *proctest.Proxy, watches *atomic.Int32) {
	t.Helper()
	down = proctest.NewProxy(t, rpc)
	target, err := url.Parse("http://" + down.Addr())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	watches = new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/Watch") {
			watches.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), down, watches
}

// network says to the page that the browser's network has gone (false) or is back (true), as
// the browser does. (The Chrome DevTools Protocol's network emulation would take a module
// this one does not use directly.)
func (p *page) network(online bool) {
	p.t.Helper()
	name := "offline"
	if online {
		name = "online"
	}
	eval[bool](p, fmt.Sprintf(`window.dispatchEvent(new Event(%q))`, name))
}

// A browser that goes offline is said to be so, and the page opens no Watch while it is,
// rather than saying it cannot reach the server and backing off; once the browser is online
// again, the page watches again at once, not when its backoff is over, and the conversation
// goes on.
func TestPage_SaysWhenTheBrowserIsOfflineAndWatchesAgainAtOnceWhenItIsBack(t *testing.T) {
	p := browser(t)
	addr, proxy, watches := watchesCounted(t, standalone(t))
	p.open("http://" + addr + "/")
	p.say("I feel sad")
	p.waitLog("reply", 1)
	p.waitStatus("online")

	proxy.Down()
	p.network(false)
	p.waitFor(`document.getElementById("status").textContent`, "You are offline; the conversation resumes when the connection is back.")
	if state := eval[string](p, `document.getElementById("status").dataset.state`); state != "offline" {
		t.Errorf("the status is %q while the browser is offline, want offline", state)
	}
	before := watches.Load()
	time.Sleep(3 * time.Second) // a backoff's first waits, and more
	if n := watches.Load() - before; n != 0 {
		t.Errorf("the page opened %d Watches while the browser was offline, want none", n)
	}
	if text := eval[string](p, `document.getElementById("status").textContent`); !strings.HasPrefix(text, "You are offline") {
		t.Errorf("while the browser is offline the status says %q", text)
	}

	proxy.Up()
	p.network(true)
	kafkatest.Eventually(t, time.Second, func() bool { return watches.Load() > before },
		func() string { return "no Watch was opened within a second of the browser being online again" })
	p.waitStatus("online")
	p.say("my mother hates me")
	p.waitLog("reply", 2)
	checkOnce(t, p.entries())
}
