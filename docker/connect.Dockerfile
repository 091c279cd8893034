# Kafka Connect worker with Microsoft's Kusto sink (Kafka -> Azure Data Explorer).
# cp-kafka-connect 7.9 is the last line known to ship the confluent-hub client (deprecated
# upstream in favour of `confluent connect plugin install`); it runs Java 17 and talks to a
# Kafka 4 broker fine.
ARG CP_VERSION=7.9.1
FROM confluentinc/cp-kafka-connect:${CP_VERSION}
# The plugin's Confluent Hub owner is `microsoftcorporation`. 4.1.4 is the pinned default:
# 5.1.x targeted Java 21 at first and later 5.1.x builds logged "URI contain illegal
# characters" on queued ingestion; raise it with --build-arg once a newer one is proven.
ARG KUSTO_SINK_VERSION=4.1.4
RUN confluent-hub install --no-prompt \
      microsoftcorporation/kafka-sink-azure-kusto:${KUSTO_SINK_VERSION}
