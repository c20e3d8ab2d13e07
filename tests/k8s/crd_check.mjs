// Checks custom resources against the validators that the @kubernetes-models
// npm packages compile from the operators' CRD schemas (openAPIV3Schema).
//
//   node tests/k8s/crd_check.mjs NODE_MODULES < objects.json
//
// stdin: a JSON array of objects. stdout: a JSON array, one entry per object,
// {apiVersion, kind, name, schema, errors}; schema is null when no package
// here covers the apiVersion.
//
// The CRD schemas accept fields they do not define (the validators pass a
// misspelt `containerConcurency`), so each object also goes through a strict
// pass: the validator reads it through a Proxy that records which keys it
// looks up. A validator looks up every key its schema defines on an object,
// iterates the keys of a map, and looks up none on a free-form object
// (x-kubernetes-preserve-unknown-fields, such as Strimzi's `config`). So a key
// present on an object whose other keys were looked up, but itself never
// was, is a field the schema does not have.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

// API group -> the package that carries its validators.
const PACKAGES = {
  "serving.knative.dev": "@kubernetes-models/knative",
  "sources.knative.dev": "@kubernetes-models/knative",
  "kafka.strimzi.io": "@kubernetes-models/strimzi-kafka-operator",
  "keda.sh": "@kubernetes-models/keda",
  "postgresql.cnpg.io": "@kubernetes-models/cloudnative-pg",
};

const pascal = (text) =>
  text
    .split(".")
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");

// The module that exports `validate` for an apiVersion and kind, e.g.
// serving.knative.dev/v1 Service -> _schemas/ServingKnativeDevV1Service.
async function loadValidator(nodeModules, apiVersion, kind) {
  const [group, version] = apiVersion.split("/");
  const pkg = PACKAGES[group];
  if (!pkg || !version) return [null, null];
  const base = join(nodeModules, pkg, "_schemas", pascal(group) + pascal(version) + kind);
  // knative, keda and cloudnative-pg ship ES modules as .mjs; strimzi as .js
  for (const file of [`${base}.mjs`, `${base}.js`]) {
    try {
      const module = await import(pathToFileURL(file).href);
      return [module.validate, file];
    } catch (error) {
      if (error.code !== "ERR_MODULE_NOT_FOUND") throw error;
    }
  }
  return [null, null];
}

function tracked(object) {
  const records = new Map();
  const proxies = new WeakMap();
  const wrap = (value) => {
    if (value === null || typeof value !== "object") return value;
    if (proxies.has(value)) return proxies.get(value);
    const record = { read: new Set(), enumerated: false };
    records.set(value, record);
    const note = (key) => {
      if (typeof key === "string") record.read.add(key);
    };
    const proxy = new Proxy(value, {
      get(target, key) {
        note(key);
        return wrap(Reflect.get(target, key));
      },
      has(target, key) {
        note(key);
        return Reflect.has(target, key);
      },
      getOwnPropertyDescriptor(target, key) {
        note(key);
        return Reflect.getOwnPropertyDescriptor(target, key);
      },
      ownKeys(target) {
        record.enumerated = true;
        return Reflect.ownKeys(target);
      },
    });
    proxies.set(value, proxy);
    return proxy;
  };
  return [wrap(object), records];
}

function unknownFields(value, path, records, found) {
  if (value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    value.forEach((item, index) => unknownFields(item, `${path}/${index}`, records, found));
    return;
  }
  const record = records.get(value);
  // never reached by the validator, or free-form: nothing to say
  if (!record || (!record.enumerated && record.read.size === 0)) return;
  for (const key of Object.keys(value)) {
    if (!record.enumerated && !record.read.has(key)) {
      found.push(`${path}/${key}: not a field the schema defines`);
    } else {
      unknownFields(value[key], `${path}/${key}`, records, found);
    }
  }
}

function describe(error) {
  const where = error.instancePath || "/";
  return `${where}: ${error.keyword} ${error.message ?? JSON.stringify(error.params)}`;
}

async function main() {
  const nodeModules = process.argv[2];
  if (!nodeModules) {
    console.error("usage: node crd_check.mjs NODE_MODULES < objects.json");
    process.exit(2);
  }
  const objects = JSON.parse(readFileSync(0, "utf8"));
  const results = [];
  for (const object of objects) {
    const [validate, schema] = await loadValidator(nodeModules, object.apiVersion, object.kind);
    const result = {
      apiVersion: object.apiVersion,
      kind: object.kind,
      name: object.metadata?.name ?? null,
      schema,
      errors: [],
    };
    if (validate) {
      const [proxy, records] = tracked(object);
      if (!validate(proxy)) result.errors.push(...validate.errors.map(describe));
      unknownFields(object, "", records, result.errors);
    }
    results.push(result);
  }
  process.stdout.write(JSON.stringify(results));
}

await main();
