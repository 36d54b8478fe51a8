"""What the tests share: one polling helper (`polling`), the test data (`data`), one way to
bind an environment (`environment`), fakes of the clients tests stand in for (`fakes`), the
journeys through the API (`journeys`) and small helpers on the cloud and the network (`aws`,
`network`). Tests import from here, never from one another."""
