package debeziumpub

import "fmt"

// valueSchema is the Kafka Connect schema the connector sends with every value of
// datastore.signal; %[1]s is the topic (the connector's prefix, schema and table).
const valueSchema = `{"type":"struct","fields":[` +
	`{"type":"struct","fields":` + rowFields + `,"optional":true,"name":"%[1]s.Value","field":"before"},` +
	`{"type":"struct","fields":` + rowFields + `,"optional":true,"name":"%[1]s.Value","field":"after"},` +
	`{"type":"struct","fields":[` +
	`{"type":"string","optional":false,"field":"version"},` +
	`{"type":"string","optional":false,"field":"connector"},` +
	`{"type":"string","optional":false,"field":"name"},` +
	`{"type":"int64","optional":false,"field":"ts_ms"},` +
	`{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},"default":"false","field":"snapshot"},` +
	`{"type":"string","optional":false,"field":"db"},` +
	`{"type":"string","optional":true,"field":"sequence"},` +
	`{"type":"int64","optional":true,"field":"ts_us"},` +
	`{"type":"int64","optional":true,"field":"ts_ns"},` +
	`{"type":"string","optional":false,"field":"schema"},` +
	`{"type":"string","optional":false,"field":"table"},` +
	`{"type":"int64","optional":true,"field":"txId"},` +
	`{"type":"int64","optional":true,"field":"lsn"},` +
	`{"type":"int64","optional":true,"field":"xmin"},` +
	`{"type":"string","optional":true,"field":"origin"},` +
	`{"type":"int64","optional":true,"field":"origin_lsn"}` +
	`],"optional":false,"name":"io.debezium.connector.postgresql.Source","version":1,"field":"source"},` +
	`{"type":"struct","fields":[` +
	`{"type":"string","optional":false,"field":"id"},` +
	`{"type":"int64","optional":false,"field":"total_order"},` +
	`{"type":"int64","optional":false,"field":"data_collection_order"}` +
	`],"optional":true,"name":"event.block","version":1,"field":"transaction"},` +
	`{"type":"string","optional":false,"field":"op"},` +
	`{"type":"int64","optional":true,"field":"ts_ms"},` +
	`{"type":"int64","optional":true,"field":"ts_us"},` +
	`{"type":"int64","optional":true,"field":"ts_ns"}` +
	`],"optional":false,"name":"%[1]s.Envelope","version":2}`

// rowFields are the columns of datastore.signal as the connector describes them.
const rowFields = `[` +
	`{"type":"string","optional":false,"name":"io.debezium.data.Uuid","version":1,"field":"id"},` +
	`{"type":"string","optional":false,"name":"io.debezium.data.Uuid","version":1,"field":"recording"},` +
	`{"type":"bytes","optional":false,"field":"span"},` +
	`{"type":"string","optional":false,"field":"sensor_label"},` +
	`{"type":"string","optional":false,"field":"sensor_type"},` +
	`{"type":"array","items":{"type":"string","optional":true},"optional":false,"field":"channels"},` +
	`{"type":"string","optional":false,"field":"sample_unit"},` +
	`{"type":"double","optional":false,"field":"sample_resolution_in_unit"},` +
	`{"type":"double","optional":false,"field":"sample_offset_in_unit"},` +
	`{"type":"string","optional":false,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"int8,int16,int32,int64,uint8,uint16,uint32,uint64,float32,float64"},"field":"sample_type"},` +
	`{"type":"double","optional":false,"field":"sample_rate"},` +
	`{"type":"string","optional":false,"name":"io.debezium.time.ZonedTimestamp","version":1,"default":"1970-01-01T00:00:00.000000Z","field":"inserted_at"}` +
	`]`

// keySchema is the schema of the key the connector builds from message.key.columns.
const keySchema = `{"type":"struct","fields":[` +
	`{"type":"string","optional":false,"name":"io.debezium.data.Uuid","version":1,"field":"recording"}` +
	`],"optional":false,"name":"%[1]s.Key"}`

func schemas(topic string) (value, key []byte) {
	return fmt.Appendf(nil, valueSchema, topic), fmt.Appendf(nil, keySchema, topic)
}
