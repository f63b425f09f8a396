//go:build linux

package slowlink

const sysSetns = 268
