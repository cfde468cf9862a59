# syntax=docker/dockerfile:1
# Kafka Connect for the KafkaConnect resource: Strimzi's own Kafka image (operator 1.2.0,
# Kafka 4.3.1), plus the Debezium PostgreSQL connector on Connect's plugin path.
#
# Why a Dockerfile and not KafkaConnect's spec.build: spec.build makes the operator build the
# image in the cluster and push it to a registry, which a stock minikube does not have. skaffold
# builds this file straight into minikube's image store instead, like the Go images.
#
# The plugin archive comes from Maven Central and is checked against a pinned SHA-256, so a
# rebuild gets exactly the bytes reviewed here. Update DEBEZIUM_VERSION and the checksum
# together (the local stack's deploy/local/pom.xml pins the same version).
ARG STRIMZI_IMAGE=quay.io/strimzi/kafka:1.2.0-kafka-4.3.1

# ADD --checksum downloads and verifies in BuildKit itself; busybox only unpacks.
FROM busybox:1.37 AS fetch
ARG DEBEZIUM_VERSION=3.6.1.Final
ADD --checksum=sha256:408b00c073b27ddaa7af34684f60fcf5bbf6605de68a8662ec9462f2a88880d2 \
    https://repo1.maven.org/maven2/io/debezium/debezium-connector-postgres/${DEBEZIUM_VERSION}/debezium-connector-postgres-${DEBEZIUM_VERSION}-plugin.tar.gz \
    /tmp/plugin.tar.gz
RUN mkdir /plugins && tar -xzf /tmp/plugin.tar.gz -C /plugins

FROM ${STRIMZI_IMAGE}
# Strimzi's image puts /opt/kafka/plugins on the plugin path; each directory is one plugin.
COPY --from=fetch --chown=1001:0 /plugins/ /opt/kafka/plugins/
USER 1001
