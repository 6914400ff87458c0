// Package notify owns webhook endpoints and their deliveries (SPEC §11):
// the endpoints other services register, one delivery row per (endpoint,
// event) with its attempts and next retry, the Standard Webhooks signature
// and the HTTP POST itself. It also signs the suspension webhook of SPEC
// §5, whose format it keeps unchanged. jobs schedules the deliveries on
// River; this package decides nothing about when an event happens.
package notify
