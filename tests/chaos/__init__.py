"""A seeded chaos harness for the books: concurrent clients pay and refund over HTTP while the Splash sandbox
injects faults and the status poll and queues run, then every invoice and payment is checked against Splash
(tests/chaos/harness.py; `make chaos`)."""
