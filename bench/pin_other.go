//go:build !linux

package main

import "errors"

func setAffinity([]int) error { return errors.New("CPU pinning needs Linux") }
