"""Telemetry: spans -> paths (:mod:`.paths`), latency statistics (:mod:`.stats`), results
(:mod:`.results`), one load's report (:mod:`.report`), a proxy's metrics scraped (:mod:`.scrape`),
what the processes cost (:mod:`.cost`), and captured links as pcap files (:mod:`.pcap`)."""
