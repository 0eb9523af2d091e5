package web

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
)

//go:embed templates
var templateFiles embed.FS

// The pages, by the name of their template in templates/.
const (
	pageLogin     = "login"
	pageOverview  = "overview"
	pageOffers    = "offers"
	pageEditor    = "editor"
	pageOffer     = "offer"
	pageReports   = "reports"
	pageCalendar  = "calendar"
	pageStores    = "stores"
	pageFeed      = "feed"
	pageSuggest   = "suggestions"
	pageForbidden = "forbidden"
	pageError     = "error"
)

// page is a page's template and what the layout needs to know of it.
type page struct {
	title  string
	nav    string // the header link it is under; "" for none
	script string // its module under /static/js/; "" for none
	tmpl   *template.Template
}

var pageInfo = map[string]page{
	pageLogin:     {title: "Log in"},
	pageOverview:  {title: "Overview", nav: pageOverview, script: "overview.js"},
	pageOffers:    {title: "Offers", nav: pageOffers, script: "offers.js"},
	pageEditor:    {title: "Offer editor", nav: pageOffers, script: "editor.js"},
	pageOffer:     {title: "Offer", nav: pageOffers, script: "offer.js"},
	pageReports:   {title: "Reports", nav: pageReports, script: "reports.js"},
	pageCalendar:  {title: "Calendar", nav: pageCalendar, script: "calendar.js"},
	pageStores:    {title: "Stores", nav: pageStores, script: "stores.js"},
	pageFeed:      {title: "Live feed", nav: pageFeed, script: "feed-page.js"},
	pageSuggest:   {title: "Suggestions", nav: pageSuggest, script: "suggestions.js"},
	pageForbidden: {title: "Not allowed"},
	pageError:     {title: "Error"},
}

// pageData is what a page's template reads.
type pageData struct {
	Me      *identity // nil before login
	Title   string
	Nav     string
	Script  string
	Page    string
	Status  int    // error pages
	Message string // login and error pages
	Next    string // login: where to go after it
	OfferID string // editor and offer: the offer; "" for a new one
}

// parsePages parses each page with the layout.
func parsePages() map[string]*page {
	pages := make(map[string]*page, len(pageInfo))
	for name, info := range pageInfo {
		info.tmpl = template.Must(template.ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html"))
		pages[name] = &info
	}
	return pages
}

// render writes a page with the status. It renders into a buffer first,
// so that a template that fails leaves a clean error, not half a page.
func (d *dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, data *pageData) {
	p := d.pages[name]
	data.Title, data.Nav, data.Script, data.Page = p.title, p.nav, p.script, name
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, "layout", data); err != nil {
		d.log.Error("web: render failed", "page", name, "err", err)
		http.Error(w, "HQ could not show this page", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// fail shows an error page.
func (d *dashboard) fail(w http.ResponseWriter, r *http.Request, status int, message string) {
	d.render(w, r, status, pageError, &pageData{Status: status, Message: message})
}

func (d *dashboard) notFound(w http.ResponseWriter, r *http.Request) {
	d.fail(w, r, http.StatusNotFound, "There is no page here.")
}
