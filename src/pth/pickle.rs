//! A pickle reader that executes nothing. It understands the opcodes
//! `torch.save` writes (protocols 2 to 5) and builds plain values: numbers,
//! strings, tuples, lists, dicts — and, for the few callables a state_dict
//! names (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
//! `torch._utils._rebuild_parameter`, the storage types), their results as
//! data. Any other global a pickle names is refused with its name: that is
//! where a hostile pickle would ask Python to run something.

use std::collections::HashMap;

/// A storage's element type (the `torch.*Storage` a pickle names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    fn of_storage(name: &str) -> Option<DType> {
        Some(match name {
            "FloatStorage" => DType::F32,
            "DoubleStorage" => DType::F64,
            "HalfStorage" => DType::F16,
            "BFloat16Storage" => DType::BF16,
            "LongStorage" => DType::I64,
            "IntStorage" => DType::I32,
            "ShortStorage" => DType::I16,
            "CharStorage" => DType::I8,
            "ByteStorage" => DType::U8,
            "BoolStorage" => DType::Bool,
            _ => return None,
        })
    }
}

/// The callables a state_dict pickle may name.
#[derive(Debug, Clone, PartialEq)]
pub enum Global {
    OrderedDict,
    RebuildTensor,
    RebuildParameter,
    Storage(DType),
}

/// A tensor as the pickle describes it: a view of a storage.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    pub dtype: DType,
    /// The storage's record in the archive (`data/<key>`).
    pub key: String,
    /// Elements of the storage.
    pub numel: usize,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    /// Dicts and OrderedDicts, in insertion order.
    Dict(Vec<(Value, Value)>),
    Global(Global),
    /// A storage a persistent id names: (element type, key, elements).
    Storage(DType, String, usize),
    Tensor(TensorRef),
    Mark,
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "a bool",
            Value::Int(_) => "an int",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "a tuple",
            Value::List(_) => "a list",
            Value::Dict(_) => "a dict",
            Value::Global(_) => "a callable",
            Value::Storage(..) => "a storage",
            Value::Tensor(_) => "a tensor",
            Value::Mark => "a mark",
        }
    }
}

/// Why a pickle was not read.
pub type Refusal = String;

struct Vm<'a> {
    data: &'a [u8],
    at: usize,
    stack: Vec<Value>,
    /// Positions of the marks on the stack.
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

/// Most values on the stack or in the memo (a state_dict of a ResNet-152 has
/// about a thousand tensors, each a handful of values).
const MAX_VALUES: usize = 1 << 22;

/// Reads a pickle: the value it builds, or why it was refused.
pub fn load(data: &[u8]) -> Result<Value, Refusal> {
    let mut vm = Vm {
        data,
        at: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    vm.run()
}

/// The callable `module.name` names, if it is one a state_dict may use.
fn global(module: &str, name: &str) -> Result<Global, Refusal> {
    match (module, name) {
        ("collections", "OrderedDict") => Ok(Global::OrderedDict),
        ("torch._utils", "_rebuild_tensor_v2") => Ok(Global::RebuildTensor),
        ("torch._utils", "_rebuild_parameter") => Ok(Global::RebuildParameter),
        ("torch", s) => DType::of_storage(s)
            .map(Global::Storage)
            .ok_or_else(|| refused(module, name)),
        _ => Err(refused(module, name)),
    }
}

fn refused(module: &str, name: &str) -> Refusal {
    format!(
        "the pickle asks for {module}.{name}: reslab reads only tensors, ordered dicts and plain containers, and runs nothing a file asks for"
    )
}

fn usize_of(v: &Value, what: &str) -> Result<usize, Refusal> {
    match v {
        Value::Int(i) if *i >= 0 => Ok(*i as usize),
        other => Err(format!("{what} is {}, not a size", other.kind())),
    }
}

fn sizes(v: &Value, what: &str) -> Result<Vec<usize>, Refusal> {
    match v {
        Value::Tuple(t) | Value::List(t) => t.iter().map(|x| usize_of(x, what)).collect(),
        other => Err(format!("{what} is {}, not a tuple of sizes", other.kind())),
    }
}

impl Vm<'_> {
    fn bytes(&mut self, n: usize) -> Result<&[u8], Refusal> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len());
        let Some(end) = end else {
            return Err("the pickle ends in the middle of a value (truncated)".into());
        };
        let s = &self.data[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, Refusal> {
        Ok(self.bytes(1)?[0])
    }

    fn le<const N: usize>(&mut self) -> Result<[u8; N], Refusal> {
        let b = self.bytes(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    fn line(&mut self) -> Result<String, Refusal> {
        let rest = &self.data[self.at..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("the pickle ends in the middle of a line (truncated)")?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| "a name that is not text")?;
        self.at += n + 1;
        Ok(s.to_string())
    }

    fn utf8(&mut self, n: usize) -> Result<Value, Refusal> {
        let b = self.bytes(n)?;
        std::str::from_utf8(b)
            .map(|s| Value::Str(s.to_string()))
            .map_err(|_| "a string that is not UTF-8".into())
    }

    fn push(&mut self, v: Value) -> Result<(), Refusal> {
        if self.stack.len() >= MAX_VALUES {
            return Err("the pickle builds too many values".into());
        }
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self) -> Result<Value, Refusal> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err("the pickle pops past a mark".into());
        }
        self.stack
            .pop()
            .ok_or_else(|| "the pickle pops an empty stack".into())
    }

    fn top(&mut self) -> Result<&mut Value, Refusal> {
        self.stack
            .last_mut()
            .ok_or_else(|| "the pickle reads an empty stack".into())
    }

    /// The values pushed since the last mark (the mark removed).
    fn since_mark(&mut self) -> Result<Vec<Value>, Refusal> {
        let m = self
            .marks
            .pop()
            .ok_or("the pickle has no mark to return to")?;
        Ok(self.stack.split_off(m))
    }

    fn memo_put(&mut self, k: u32) -> Result<(), Refusal> {
        if self.memo.len() >= MAX_VALUES {
            return Err("the pickle remembers too many values".into());
        }
        let v = self
            .stack
            .last()
            .cloned()
            .ok_or("the pickle memoises an empty stack")?;
        self.memo.insert(k, v);
        Ok(())
    }

    fn memo_get(&mut self, k: u32) -> Result<(), Refusal> {
        let v = self
            .memo
            .get(&k)
            .cloned()
            .ok_or_else(|| format!("the pickle recalls memo {k}, never stored"))?;
        self.push(v)
    }

    fn run(&mut self) -> Result<Value, Refusal> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let v = self.u8()?; // PROTO
                    if v > 5 {
                        return Err(format!("pickle protocol {v}"));
                    }
                }
                0x95 => {
                    self.bytes(8)?; // FRAME: a length hint
                }
                b'.' => return self.pop(), // STOP
                b'(' => self.marks.push(self.stack.len()),
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'J' => {
                    let v = i32::from_le_bytes(self.le()?);
                    self.push(Value::Int(v as i64))?;
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v as i64))?;
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.le()?);
                    self.push(Value::Int(v as i64))?;
                }
                0x8a => {
                    // LONG1: a little-endian two's complement of n bytes.
                    let n = self.u8()? as usize;
                    let b = self.bytes(n)?.to_vec();
                    if n > 8 {
                        return Err("an integer of more than 64 bits".into());
                    }
                    let mut v: i64 = 0;
                    for (i, byte) in b.iter().enumerate() {
                        v |= (*byte as i64) << (8 * i);
                    }
                    if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.push(Value::Int(v))?;
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.le()?);
                    self.push(Value::Float(v))?;
                }
                b'X' => {
                    let n = u32::from_le_bytes(self.le()?) as usize;
                    let v = self.utf8(n)?;
                    self.push(v)?;
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let v = self.utf8(n)?;
                    self.push(v)?;
                }
                0x8d => {
                    let n = u64::from_le_bytes(self.le()?);
                    let n = usize::try_from(n).map_err(|_| "a string too long")?;
                    let v = self.utf8(n)?;
                    self.push(v)?;
                }
                b'B' | b'C' | 0x8e => {
                    let n = match op {
                        b'B' => u32::from_le_bytes(self.le()?) as usize,
                        b'C' => self.u8()? as usize,
                        _ => usize::try_from(u64::from_le_bytes(self.le()?))
                            .map_err(|_| "bytes too long")?,
                    };
                    let b = self.bytes(n)?.to_vec();
                    self.push(Value::Bytes(b))?;
                }
                b')' => self.push(Value::Tuple(Vec::new()))?,
                b't' => {
                    let items = self.since_mark()?;
                    self.push(Value::Tuple(items))?;
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n
                        || self.marks.last().is_some_and(|&m| m > self.stack.len() - n)
                    {
                        return Err("a tuple of values the stack does not hold".into());
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(Value::Tuple(items))?;
                }
                b']' => self.push(Value::List(Vec::new()))?,
                b'}' => self.push(Value::Dict(Vec::new()))?,
                b'a' => {
                    let v = self.pop()?;
                    match self.top()? {
                        Value::List(l) => l.push(v),
                        other => return Err(format!("APPEND to {}", other.kind())),
                    }
                }
                b'e' => {
                    let items = self.since_mark()?;
                    match self.top()? {
                        Value::List(l) => l.extend(items),
                        other => return Err(format!("APPENDS to {}", other.kind())),
                    }
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    match self.top()? {
                        Value::Dict(d) => d.push((k, v)),
                        other => return Err(format!("SETITEM on {}", other.kind())),
                    }
                }
                b'u' => {
                    let items = self.since_mark()?;
                    if items.len() % 2 != 0 {
                        return Err("SETITEMS with a key and no value".into());
                    }
                    let mut it = items.into_iter();
                    let mut pairs = Vec::new();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    match self.top()? {
                        Value::Dict(d) => d.extend(pairs),
                        other => return Err(format!("SETITEMS on {}", other.kind())),
                    }
                }
                b'q' => {
                    let k = self.u8()? as u32;
                    self.memo_put(k)?;
                }
                b'r' => {
                    let k = u32::from_le_bytes(self.le()?);
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = self.memo.len() as u32; // MEMOIZE
                    self.memo_put(k)?;
                }
                b'h' => {
                    let k = self.u8()? as u32;
                    self.memo_get(k)?;
                }
                b'j' => {
                    let k = u32::from_le_bytes(self.le()?);
                    self.memo_get(k)?;
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.since_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.push(v)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let g = global(&module, &name)?;
                    self.push(Value::Global(g))?;
                }
                0x93 => {
                    // STACK_GLOBAL
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Value::Str(m), Value::Str(n)) = (&module, &name) else {
                        return Err("STACK_GLOBAL of names that are not strings".into());
                    };
                    let g = global(m, n)?;
                    self.push(Value::Global(g))?;
                }
                b'Q' => {
                    // BINPERSID: ('storage', storage type, key, location, numel)
                    let pid = self.pop()?;
                    let v = persistent(pid)?;
                    self.push(v)?;
                }
                b'R' => {
                    let args = self.pop()?;
                    let f = self.pop()?;
                    let v = reduce(f, args)?;
                    self.push(v)?;
                }
                b'b' => {
                    // BUILD: the state of an OrderedDict (its _metadata) is
                    // of no use here; anything else is refused.
                    let state = self.pop()?;
                    match (self.top()?, &state) {
                        (Value::Dict(_), Value::Dict(_) | Value::None) => {}
                        (Value::Tensor(_), _) => {}
                        (other, _) => return Err(format!("BUILD on {}", other.kind())),
                    }
                }
                other => {
                    return Err(format!(
                        "pickle opcode 0x{other:02x} at byte {}: not one torch.save writes for tensors and containers",
                        self.at - 1
                    ));
                }
            }
        }
    }
}

fn persistent(pid: Value) -> Result<Value, Refusal> {
    let Value::Tuple(t) = pid else {
        return Err(format!("a persistent id that is {}", pid.kind()));
    };
    match &t[..] {
        [
            Value::Str(tag),
            Value::Global(Global::Storage(dtype)),
            Value::Str(key),
            _,
            n,
        ] if tag == "storage" => Ok(Value::Storage(
            *dtype,
            key.clone(),
            usize_of(n, "a storage's size")?,
        )),
        _ => Err("a persistent id that is not a tensor storage".into()),
    }
}

fn reduce(f: Value, args: Value) -> Result<Value, Refusal> {
    let Value::Tuple(a) = args else {
        return Err(format!("a call with {} for arguments", args.kind()));
    };
    match f {
        Value::Global(Global::OrderedDict) => Ok(Value::Dict(Vec::new())),
        Value::Global(Global::RebuildTensor) => {
            // (storage, offset, size, stride, requires_grad, backward_hooks[, metadata])
            let [Value::Storage(dtype, key, numel), offset, shape, stride, ..] = &a[..] else {
                return Err("_rebuild_tensor_v2 without a storage, offset, size and stride".into());
            };
            let (shape, stride) = (sizes(shape, "a tensor's size")?, sizes(stride, "a stride")?);
            if shape.len() != stride.len() {
                return Err("a tensor whose size and stride differ in length".into());
            }
            Ok(Value::Tensor(TensorRef {
                dtype: *dtype,
                key: key.clone(),
                numel: *numel,
                offset: usize_of(offset, "a storage offset")?,
                shape,
                stride,
            }))
        }
        Value::Global(Global::RebuildParameter) => match a.into_iter().next() {
            Some(t @ Value::Tensor(_)) => Ok(t),
            _ => Err("_rebuild_parameter of something that is not a tensor".into()),
        },
        other => Err(format!("a call of {}", other.kind())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_of_anything_else_is_refused_by_name() {
        // What pickle.dumps of an object with __reduce__ = (os.system, ("echo",))
        // writes under protocol 2.
        let mut p = vec![0x80, 2];
        p.extend_from_slice(b"cposix\nsystem\nq\x00X\x04\x00\x00\x00echoq\x01\x85q\x02Rq\x03.");
        let e = load(&p).unwrap_err();
        assert!(e.contains("posix.system"), "{e}");
        // An ordered dict of plain values reads.
        let mut p = vec![0x80, 2];
        p.extend_from_slice(b"ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00aK\x07s.");
        assert_eq!(
            load(&p).unwrap(),
            Value::Dict(vec![(Value::Str("a".into()), Value::Int(7))])
        );
        // Cut short anywhere: an error, never a panic.
        for n in 0..p.len() {
            assert!(load(&p[..n]).is_err());
        }
    }
}
