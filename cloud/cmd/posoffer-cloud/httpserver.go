package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posoffer/posoffer/cloud/config"
)

// httpServer is HQ's HTTP server with the read limits of c: headers within
// ReadHeaderTimeout, a body within BodyTimeout after them, idle
// connections closed after IdleTimeout. There is no server-wide
// ReadTimeout: net/http cancels a request's context when that passes, even
// after the body was read, which would cut the live feed and long reports.
// Serve it with the listener that listen returns, which counts the
// connections cut for a slow request in posoffer_cloud_http_slow_requests_total.
type httpServer struct {
	*http.Server
	slow prometheus.Counter
}

func newHTTPServer(h http.Handler, c config.HTTP, reg prometheus.Registerer) (*httpServer, error) {
	s := &httpServer{
		Server: &http.Server{Handler: bodyDeadline(h, c.BodyTimeout), ReadHeaderTimeout: c.ReadHeaderTimeout,
			IdleTimeout: c.IdleTimeout, MaxHeaderBytes: c.MaxHeaderBytes},
		slow: prometheus.NewCounter(prometheus.CounterOpts{Name: "posoffer_cloud_http_slow_requests_total",
			Help: "Connections closed because a request's headers or body did not arrive in time (http.read_header_timeout, http.body_timeout)."}),
	}
	if reg != nil {
		if err := reg.Register(s.slow); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// listen wraps a listener so that its connections count slow requests.
func (s *httpServer) listen(ln net.Listener) net.Listener {
	return &slowListener{Listener: ln, slow: s.slow}
}

// bodyDeadline gives a request with a body d to deliver it: its reads fail
// after that (and the API answers 408). The deadline is lifted once the
// body is read, so that what follows (net/http's watch for the client
// going away, a long handler) is not cut by it.
func bodyDeadline(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			if rc.SetReadDeadline(time.Now().Add(d)) == nil {
				r.Body = &liftOnEOF{ReadCloser: r.Body, lift: func() { rc.SetReadDeadline(time.Time{}) }}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// liftOnEOF calls lift once, when the body has been read to its end.
type liftOnEOF struct {
	io.ReadCloser
	lift func()
	done bool
}

func (b *liftOnEOF) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !b.done {
		b.done = true
		b.lift()
	}
	return n, err
}

type slowListener struct {
	net.Listener
	slow prometheus.Counter
}

func (l *slowListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &slowConn{Conn: c, slow: l.slow}, nil
}

// slowConn counts, once, a read deadline that passes while a request is
// partly read: bytes arrived since the last reply. A deadline that passes
// on a connection waiting for its next request (idle) is not counted.
type slowConn struct {
	net.Conn
	slow    prometheus.Counter
	partial atomic.Bool
	counted atomic.Bool
}

func (c *slowConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.partial.Store(true)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) && c.partial.Load() && c.counted.CompareAndSwap(false, true) {
		c.slow.Inc()
	}
	return n, err
}

func (c *slowConn) Write(p []byte) (int, error) {
	c.partial.Store(false)
	return c.Conn.Write(p)
}
