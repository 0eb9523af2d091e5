package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posoffer/posoffer/agent/store"
)

// Alarm codes in GET /status.
const (
	// alarmStoreDamaged: the store file was damaged at start; the agent
	// moved it aside and runs on a fresh one. It stays raised until the
	// agent restarts on a sound file.
	alarmStoreDamaged = "store_damaged"
)

// alarm is a condition that needs a person, in GET /status.
type alarm struct {
	Code    string    `json:"code"`
	Message string    `json:"message"`
	MovedTo string    `json:"moved_to,omitempty"` // store_damaged: where the damaged file is
	At      time.Time `json:"at"`
}

// storeAlarms are the alarms about the store file.
func storeAlarms(db *store.Store) []alarm {
	d := db.Damage()
	if d == nil {
		return []alarm{}
	}
	return []alarm{{Code: alarmStoreDamaged, Message: d.Message(), MovedTo: d.MovedTo, At: d.At}}
}

// registerStoreMetrics registers posoffer_store_damaged: 1 when the agent
// started on a fresh store file because the one it had was damaged.
func registerStoreMetrics(reg prometheus.Registerer, db *store.Store) error {
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "posoffer_store_damaged",
		Help: "1 when the agent started on a fresh store file because its store file was damaged (see /status)."},
		func() float64 {
			if db.Damage() != nil {
				return 1
			}
			return 0
		}))
}
