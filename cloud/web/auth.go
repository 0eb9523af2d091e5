package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/posoffer/posoffer/cloud/api"
	"github.com/posoffer/posoffer/protocol"
)

// identity is who a token belongs to, as GET /api/v1/me answers.
type identity struct {
	ID     string     `json:"id"`
	Name   string     `json:"name"`
	Role   string     `json:"role"`
	Tenant api.Tenant `json:"tenant"`
}

// Admin reports whether the token may change offers.
func (id *identity) Admin() bool { return id != nil && id.Role == api.RoleAdmin }

// errBadToken is a token the API does not accept; its message is the
// API's, for the person who pasted it.
type errBadToken struct{ message string }

func (e *errBadToken) Error() string { return e.message }

// maxMeReply bounds what the dashboard reads of the API's answer to
// GET /api/v1/me.
const maxMeReply = 64 << 10

// who asks the API whose token it is. The error is an *errBadToken when
// the API refuses the token.
func (d *dashboard) who(ctx context.Context, token string) (*identity, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api.Prefix+"me", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	rec := &recorder{header: http.Header{}}
	d.api.ServeHTTP(rec, req)
	switch rec.code() {
	case http.StatusOK:
		var id identity
		if err := json.Unmarshal(rec.body.Bytes(), &id); err != nil || id.Role == "" {
			return nil, fmt.Errorf("GET %sme: unexpected reply %.200q", api.Prefix, rec.body.Bytes())
		}
		return &id, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		var reply struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		json.Unmarshal(rec.body.Bytes(), &reply)
		msg := reply.Error.Message
		if msg == "" {
			msg = "the token is not valid"
		}
		return nil, &errBadToken{msg}
	}
	return nil, fmt.Errorf("GET %sme: status %d: %.200q", api.Prefix, rec.code(), rec.body.Bytes())
}

// recorder is the response of a request the dashboard makes to the API
// inside the process.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	if r.body.Len()+len(b) > maxMeReply {
		return 0, errors.New("reply too large")
	}
	return r.body.Write(b)
}

func (r *recorder) code() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// tokenCookie is the cookie that carries token, or, with an empty token,
// the one that removes it. Secure when the request came over TLS: HQ
// behind plain HTTP on a LAN must still be able to log in.
func tokenCookie(r *http.Request, token string) *http.Cookie {
	c := &http.Cookie{Name: api.CookieName, Value: token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil}
	if token == "" {
		c.MaxAge = -1
	}
	return c
}

// maxLoginForm bounds the login form's body.
const maxLoginForm = 8 << 10

func (d *dashboard) loginForm(w http.ResponseWriter, r *http.Request) {
	d.render(w, r, http.StatusOK, pageLogin, &pageData{Next: safeNext(r.URL.Query().Get("next"))})
}

// login checks the pasted token with the API and, when it is good, keeps
// it in the cookie.
func (d *dashboard) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	data := &pageData{}
	if err := r.ParseForm(); err != nil {
		data.Message = "The form could not be read; paste the token again."
		d.render(w, r, http.StatusBadRequest, pageLogin, data)
		return
	}
	data.Next = safeNext(r.PostForm.Get("next"))
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if token == "" {
		data.Message = "Paste a token: posoffer-cloud token create makes one."
		d.render(w, r, http.StatusBadRequest, pageLogin, data)
		return
	}
	_, err := d.who(r.Context(), token)
	if bad, ok := errors.AsType[*errBadToken](err); ok {
		data.Message = "That token was not accepted: " + bad.message + "."
		d.render(w, r, http.StatusUnauthorized, pageLogin, data)
		return
	}
	if err != nil {
		d.log.Error("web: login: checking the token failed", "err", err)
		data.Message = "HQ could not check the token just now; try again."
		d.render(w, r, http.StatusInternalServerError, pageLogin, data)
		return
	}
	http.SetCookie(w, tokenCookie(r, token))
	next := data.Next
	if next == "" {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (d *dashboard) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, tokenCookie(r, ""))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// page serves a page to whoever holds a valid token, or only to admins;
// anyone else is sent to the login page.
func (d *dashboard) page(name string, adminOnly bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(api.CookieName)
		if err != nil || c.Value == "" {
			d.toLogin(w, r)
			return
		}
		me, err := d.who(r.Context(), c.Value)
		if _, ok := errors.AsType[*errBadToken](err); ok {
			http.SetCookie(w, tokenCookie(r, ""))
			d.toLogin(w, r)
			return
		}
		if err != nil {
			d.log.Error("web: checking the token failed", "path", r.URL.Path, "err", err)
			d.fail(w, r, http.StatusInternalServerError, "HQ could not check your token just now; reload the page.")
			return
		}
		data := &pageData{Me: me}
		if adminOnly && !me.Admin() {
			data.Message = fmt.Sprintf("Your token (%s) is an %s token: it reads everything but changes nothing. "+
				"Offers are created and changed with an admin token.", me.Name, me.Role)
			d.render(w, r, http.StatusForbidden, pageForbidden, data)
			return
		}
		if id := r.PathValue("id"); id != "" {
			if !protocol.ValidOfferID(id) {
				d.notFound(w, r)
				return
			}
			data.OfferID = id
		}
		d.render(w, r, http.StatusOK, name, data)
	})
}

// toLogin sends the browser to the login page, and back here after it.
func (d *dashboard) toLogin(w http.ResponseWriter, r *http.Request) {
	target := "/login"
	if r.URL.Path != "/" {
		target += "?next=" + url.QueryEscape(r.URL.Path)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// safeNext returns where to go after logging in: a path of this
// dashboard, or "" for anything else, such as another site's address.
func safeNext(next string) string {
	if len(next) > 200 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\r\n\t") || strings.HasPrefix(next, api.Prefix) {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Path != next {
		return ""
	}
	return next
}
