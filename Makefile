# make test: every test, Go and JavaScript (the README's test command).
# go test -race needs gcc (cgo); the JS tests need Node 20+, npm, and for the
# browser test Debian's chromium (it skips, naming the package, without it).

JS := clients/js

.PHONY: test test-go test-js

test: test-go test-js

test-go:
	go test -race ./...

test-js: $(JS)/node_modules/.package-lock.json
	cd $(JS) && npm test

# npm ci installs exactly the committed lockfile; rerun only when it changes.
$(JS)/node_modules/.package-lock.json: $(JS)/package-lock.json
	cd $(JS) && npm ci --no-audit --no-fund
