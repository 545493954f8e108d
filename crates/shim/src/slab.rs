//! A slab whose keys carry a generation, so that an epoll event queued for a
//! removed entry can never be delivered to the entry that reused its slot.

/// Key of a slab entry: slot index and generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// Slot index.
    pub slot: usize,
    /// Generation of the slot when the entry was inserted.
    pub generation: u32,
}

/// Entries addressed by [`Key`].
#[derive(Debug)]
pub struct Slab<T> {
    slots: Vec<(u32, Option<T>)>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { slots: Vec::new() }
    }
}

impl<T> Slab<T> {
    /// Inserts into the first free slot.
    pub fn insert(&mut self, value: T) -> Key {
        if let Some(slot) = self.slots.iter().position(|(_, v)| v.is_none()) {
            let entry = &mut self.slots[slot];
            entry.1 = Some(value);
            return Key { slot, generation: entry.0 };
        }
        self.slots.push((0, Some(value)));
        Key { slot: self.slots.len() - 1, generation: 0 }
    }

    /// The entry at `key`, if it is still the same entry.
    pub fn get(&self, key: Key) -> Option<&T> {
        match self.slots.get(key.slot) {
            Some((generation, Some(v))) if *generation == key.generation => Some(v),
            _ => None,
        }
    }

    /// Mutable access to the entry at `key`, if it is still the same entry.
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        match self.slots.get_mut(key.slot) {
            Some((generation, Some(v))) if *generation == key.generation => Some(v),
            _ => None,
        }
    }

    /// Removes the entry at `key` (and retires the key).
    pub fn remove(&mut self, key: Key) -> Option<T> {
        match self.slots.get_mut(key.slot) {
            Some((generation, v @ Some(_))) if *generation == key.generation => {
                *generation = generation.wrapping_add(1);
                v.take()
            }
            _ => None,
        }
    }

    /// Keys of all entries.
    pub fn keys(&self) -> Vec<Key> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, (_, v))| v.is_some())
            .map(|(slot, (generation, _))| Key { slot, generation: *generation })
            .collect()
    }

    /// All entries with their keys.
    pub fn iter(&self) -> impl Iterator<Item = (Key, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, (generation, v))| v.as_ref().map(|v| (Key { slot, generation: *generation }, v)))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|(_, v)| v.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reused_slots_get_new_generations() {
        let mut s = Slab::default();
        let a = s.insert("a");
        let b = s.insert("b");
        assert_eq!(s.remove(a), Some("a"));
        assert_eq!(s.get(a), None);
        let c = s.insert("c");
        assert_eq!(c.slot, a.slot);
        assert_ne!(c.generation, a.generation);
        assert_eq!(s.get(a), None, "the old key does not reach the new entry");
        assert_eq!(s.get(c), Some(&"c"));
        assert_eq!(s.remove(a), None);
        assert_eq!(s.len(), 2);
        assert_eq!(s.keys(), vec![c, b]);
    }
}
