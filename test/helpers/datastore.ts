export { DatastoreEmulator, CountingProxy, freePort } from "../../src/dev/datastore-emulator.js";
