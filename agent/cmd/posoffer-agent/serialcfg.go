package main

import (
	"fmt"
	"path/filepath"

	"github.com/posoffer/posoffer/agent/config"
	"github.com/posoffer/posoffer/agent/firmware"
	"github.com/posoffer/posoffer/agent/serial"
)

// serialConfigs loads the model of every serial terminal in cfg. A relative
// firmware_dir is relative to the configuration file's directory.
func serialConfigs(cfg *config.Config, cfgPath string) ([]serial.Config, error) {
	if len(cfg.Serial) == 0 {
		return nil, nil
	}
	dir := cfg.FirmwareDir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(filepath.Dir(cfgPath), dir)
	}
	var out []serial.Config
	for i, s := range cfg.Serial {
		m, err := firmware.Load(dir, s.Model)
		if err == nil && m.Parity != "none" && m.Parity != "odd" && m.Parity != "even" {
			err = fmt.Errorf("model %s: parity %s is not supported by this agent's serial driver (none, odd, even)", m.Name, m.Parity)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: serial[%d] (terminal %s): %w", cfgPath, i, s.Terminal, err)
		}
		out = append(out, serial.Config{Terminal: s.Terminal, Path: s.Port, Model: m})
	}
	return out, nil
}
