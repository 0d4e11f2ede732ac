//! Just enough of a CloudFormation/SAM template reader: resources by type, and the intrinsic
//! functions the template uses in places the local stack reads (`Ref`, `Fn::GetAtt`, `Fn::Sub`,
//! `Fn::If` on the stage conditions), in their short (`!Ref`) and long (`{"Ref": ..}`) forms.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use serde_yaml_ng::Value;

/// What a resource without `Properties` has.
static NO_PROPERTIES: Value = Value::Null;

pub struct Template {
    doc: Value,
}

/// What intrinsic functions resolve against.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// `Ref` of parameters and resources.
    pub refs: BTreeMap<String, String>,
    /// `Fn::GetAtt`, keyed `Logical.Attribute`.
    pub attrs: BTreeMap<String, String>,
    /// The template's `Conditions`, evaluated.
    pub conditions: BTreeMap<String, bool>,
    /// The template's `Mappings`, keyed `Map/TopLevelKey/SecondLevelKey`.
    pub mappings: BTreeMap<String, String>,
}

impl Scope {
    pub fn resolve(&self, value: &Value) -> Result<String> {
        match value {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Tagged(tagged) => self.intrinsic(
                tagged.tag.to_string().trim_start_matches('!'),
                &tagged.value,
            ),
            Value::Mapping(map) if map.len() == 1 => {
                let (key, arg) = map.iter().next().ok_or_else(|| anyhow!("empty mapping"))?;
                let name = key.as_str().unwrap_or_default();
                self.intrinsic(name.trim_start_matches("Fn::"), arg)
            }
            other => bail!("cannot resolve {other:?}"),
        }
    }

    fn intrinsic(&self, name: &str, arg: &Value) -> Result<String> {
        match name {
            "Ref" => {
                let key = arg.as_str().context("Ref takes a name")?;
                self.refs
                    .get(key)
                    .cloned()
                    .with_context(|| format!("unknown Ref {key}"))
            }
            "GetAtt" => {
                let key = match arg {
                    Value::String(s) => s.clone(),
                    Value::Sequence(parts) => parts
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("."),
                    _ => bail!("GetAtt takes Logical.Attribute"),
                };
                self.attrs
                    .get(&key)
                    .cloned()
                    .with_context(|| format!("unknown GetAtt {key}"))
            }
            "Sub" => {
                let text = arg
                    .as_str()
                    .context("only the one-argument Sub is supported")?;
                self.substitute(text)
            }
            "If" => {
                let [condition, then, otherwise] =
                    arg.as_sequence().map(Vec::as_slice).unwrap_or_default()
                else {
                    bail!("If takes [condition, then, else]");
                };
                let name = condition.as_str().context("If names a condition")?;
                let holds = *self
                    .conditions
                    .get(name)
                    .with_context(|| format!("unknown condition {name}"))?;
                self.resolve(if holds { then } else { otherwise })
            }
            "FindInMap" => {
                let [map, top, second] = arg.as_sequence().map(Vec::as_slice).unwrap_or_default()
                else {
                    bail!("FindInMap takes [map, top-level key, second-level key]");
                };
                let key = format!(
                    "{}/{}/{}",
                    self.resolve(map)?,
                    self.resolve(top)?,
                    self.resolve(second)?
                );
                self.mappings
                    .get(&key)
                    .cloned()
                    .with_context(|| format!("unknown FindInMap {key}"))
            }
            other => bail!("intrinsic {other} is not supported locally"),
        }
    }

    fn substitute(&self, text: &str) -> Result<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').context("unclosed ${ in Sub")? + start;
            let name = &rest[start + 2..end];
            let value = match name.split_once('.') {
                Some(_) => self.attrs.get(name),
                None => self.refs.get(name),
            };
            out.push_str(value.with_context(|| format!("unknown ${{{name}}} in Sub"))?);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// A function resource, as far as the local stack needs it.
#[derive(Debug, Clone)]
pub struct Function {
    pub logical_id: String,
    /// The crate's folder, e.g. `functions/create-order`.
    pub code_uri: String,
    /// The binary name, e.g. `create-order`.
    pub binary: String,
    pub environment: BTreeMap<String, Value>,
    /// `(event name, Type, Properties)` of each event source.
    pub events: Vec<(String, String, Value)>,
    /// `Timeout` (its own, else the globals', else Lambda's default of 3 s): how long one
    /// invocation may run, which is the deadline its context carries.
    pub timeout: std::time::Duration,
    /// `MemorySize` in MB (its own, else the globals', else Lambda's default of 128): what each
    /// millisecond of it is billed at.
    pub memory_mb: u64,
}

impl Template {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self> {
        let doc = serde_yaml_ng::from_str(text).context("template.yaml is not valid YAML")?;
        Ok(Self { doc })
    }

    /// The parameters that declare a `Default`, with it.
    pub fn parameter_defaults(&self) -> Vec<(String, String)> {
        let Some(parameters) = self.doc.get("Parameters").and_then(Value::as_mapping) else {
            return Vec::new();
        };
        parameters
            .iter()
            .filter_map(|(name, parameter)| {
                let default = match parameter.get("Default")? {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return None,
                };
                Some((name.as_str()?.to_string(), default))
            })
            .collect()
    }

    /// Adds the template's `Mappings` to `scope`, and its `Conditions` (`Fn::Equals`, `Fn::Not`)
    /// evaluated against the parameters already there.
    pub fn bind(&self, scope: &mut Scope) -> Result<()> {
        for (map, tops) in self.mapping("Mappings") {
            for (top, seconds) in tops.as_mapping().into_iter().flatten() {
                for (second, value) in seconds.as_mapping().into_iter().flatten() {
                    let key = format!(
                        "{map}/{}/{}",
                        top.as_str().unwrap_or_default(),
                        second.as_str().unwrap_or_default()
                    );
                    scope.mappings.insert(key, scope.resolve(value)?);
                }
            }
        }
        for (name, condition) in self.mapping("Conditions") {
            let holds = evaluate(scope, condition).with_context(|| format!("condition {name}"))?;
            scope.conditions.insert(name, holds);
        }
        Ok(())
    }

    /// `(name, value)` of a top-level section that is a mapping (`Mappings`, `Conditions`).
    fn mapping(&self, section: &str) -> Vec<(String, &Value)> {
        self.doc
            .get(section)
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v)))
            .collect()
    }

    /// The `Properties` of one resource.
    pub fn properties(&self, logical_id: &str) -> Option<&Value> {
        self.doc
            .get("Resources")?
            .get(logical_id)?
            .get("Properties")
    }

    /// `(logical id, Properties)` of every resource of `kind`, in template order.
    pub fn resources(&self, kind: &str) -> Vec<(String, &Value)> {
        let Some(resources) = self.doc.get("Resources").and_then(Value::as_mapping) else {
            return Vec::new();
        };
        resources
            .iter()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
            .filter_map(|(id, r)| {
                let props = r.get("Properties").unwrap_or(&NO_PROPERTIES);
                Some((id.as_str()?.to_string(), props))
            })
            .collect()
    }

    /// Every DynamoDB table, regional or global (`AWS::DynamoDB::GlobalTable`), in template order.
    pub fn tables(&self) -> Vec<(String, &Value)> {
        let mut tables = self.resources("AWS::DynamoDB::Table");
        tables.extend(self.resources("AWS::DynamoDB::GlobalTable"));
        tables
    }

    /// Every function with its environment: the globals overlaid by its own variables.
    pub fn functions(&self) -> Vec<Function> {
        let global_function = self.doc.get("Globals").and_then(|g| g.get("Function"));
        let globals = global_function.map(variables).unwrap_or_default();
        let global_timeout = global_function
            .and_then(|f| f.get("Timeout"))
            .and_then(Value::as_u64)
            .unwrap_or(3);
        let global_memory = global_function
            .and_then(|f| f.get("MemorySize"))
            .and_then(Value::as_u64)
            .unwrap_or(128);
        let Some(resources) = self.doc.get("Resources").and_then(Value::as_mapping) else {
            return Vec::new();
        };
        resources
            .iter()
            .filter(|(_, r)| {
                r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function")
            })
            .filter_map(|(id, r)| {
                let props = r.get("Properties")?;
                let code_uri = props
                    .get("CodeUri")?
                    .as_str()?
                    .trim_end_matches('/')
                    .to_string();
                let binary = r
                    .get("Metadata")
                    .and_then(|m| m.get("BuildProperties"))
                    .and_then(|b| b.get("Binary"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| code_uri.rsplit('/').next().unwrap_or_default().to_string());
                let mut environment = globals.clone();
                environment.extend(variables(props));
                let events = props
                    .get("Events")
                    .and_then(Value::as_mapping)
                    .map(|events| {
                        events
                            .iter()
                            .filter_map(|(name, e)| {
                                Some((
                                    name.as_str()?.to_string(),
                                    e.get("Type")?.as_str()?.to_string(),
                                    e.get("Properties").cloned().unwrap_or(Value::Null),
                                ))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let timeout = props
                    .get("Timeout")
                    .and_then(Value::as_u64)
                    .unwrap_or(global_timeout);
                Some(Function {
                    logical_id: id.as_str()?.to_string(),
                    code_uri,
                    binary,
                    environment,
                    events,
                    timeout: std::time::Duration::from_secs(timeout),
                    memory_mb: props
                        .get("MemorySize")
                        .and_then(Value::as_u64)
                        .unwrap_or(global_memory),
                })
            })
            .collect()
    }
}

fn evaluate(scope: &Scope, condition: &Value) -> Result<bool> {
    let (name, arg) = match condition {
        Value::Tagged(tagged) => (tagged.tag.to_string(), &tagged.value),
        Value::Mapping(map) if map.len() == 1 => {
            let (k, v) = map.iter().next().context("empty condition")?;
            (k.as_str().unwrap_or_default().to_string(), v)
        }
        _ => bail!("unsupported condition {condition:?}"),
    };
    let args = arg.as_sequence().map(Vec::as_slice).unwrap_or_default();
    match (
        name.trim_start_matches('!').trim_start_matches("Fn::"),
        args,
    ) {
        ("Equals", [a, b]) => Ok(scope.resolve(a)? == scope.resolve(b)?),
        ("Not", [inner]) => Ok(!evaluate(scope, inner)?),
        ("And", all) => all
            .iter()
            .try_fold(true, |acc, c| Ok(acc && evaluate(scope, c)?)),
        ("Or", any) => any
            .iter()
            .try_fold(false, |acc, c| Ok(acc || evaluate(scope, c)?)),
        (other, _) => bail!("condition function {other} is not supported locally"),
    }
}

fn variables(props: &Value) -> BTreeMap<String, Value> {
    props
        .get("Environment")
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_mapping)
        .map(|vars| {
            vars.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.clone())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = include_str!("../../../template.yaml");

    #[test]
    fn the_project_template_declares_tables_queues_and_functions() {
        let template = Template::parse(TEMPLATE).unwrap();
        assert!(template.tables().len() >= 5);
        assert!(template.resources("AWS::SQS::Queue").len() >= 2);
        let functions = template.functions();
        let create = functions
            .iter()
            .find(|f| f.binary == "create-order")
            .unwrap();
        assert_eq!(create.code_uri, "functions/create-order");
        assert!(
            create.environment.contains_key("ORDERS_TABLE"),
            "globals are inherited"
        );
        assert!(create.environment.contains_key("INVENTORY_QUEUE_URL"));
    }

    #[test]
    fn intrinsics_resolve_in_short_and_long_form() {
        let mut scope = Scope::default();
        scope.refs.insert("Stage".into(), "local".into());
        scope.attrs.insert("Q.Arn".into(), "arn:q".into());
        let short: Value = serde_yaml_ng::from_str("!Sub 'orders-${Stage}-x-${Q.Arn}'").unwrap();
        assert_eq!(scope.resolve(&short).unwrap(), "orders-local-x-arn:q");
        let long: Value = serde_yaml_ng::from_str("{'Fn::GetAtt': [Q, Arn]}").unwrap();
        assert_eq!(scope.resolve(&long).unwrap(), "arn:q");
        scope.mappings.insert("M/local/Days".into(), "14".into());
        let mapped: Value = serde_yaml_ng::from_str("!FindInMap [M, !Ref Stage, Days]").unwrap();
        assert_eq!(scope.resolve(&mapped).unwrap(), "14");
        let unknown: Value = serde_yaml_ng::from_str("!Ref Nope").unwrap();
        assert!(scope.resolve(&unknown).is_err());
    }
}
