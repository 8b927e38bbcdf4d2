//! Container IDs and generated names.
//!
//! A generated name is `adjective_noun`, both picked at random: about 27,000 pairs, as wide
//! a space as Podman's. The store checks a pick against its index of names (one hash
//! lookup), so a create costs the same with 10 containers or 10,000. After a few picks that
//! are taken, a number is added (`adjective_noun_7`, then more digits), as Docker does, so
//! a create never walks the space, even when every pair is taken.

use std::hash::{Hash, Hasher};
use std::sync::LazyLock;

use crate::engine::id::container::ContainerId;

/// A new random container ID.
pub fn new_id() -> ContainerId {
    ContainerId::random()
}

/// Our own lists (lowercase ASCII letters, space-separated).
const ADJECTIVE_WORDS: &str = "\
    able agile airy alert amiable ample amused ardent artful astute avid balmy blissful bold \
    bouncy breezy bright brisk bubbly calm candid careful cheerful chipper civil clever \
    cosmic cozy crisp curious daring dapper deft devoted diligent dreamy dynamic earnest \
    elated eloquent epic exact fair fearless festive fluent focused frank friendly frosty \
    gentle genial gifted giddy glad gleeful graceful grand hardy hearty honest humble ideal \
    jovial joyful kind lively loyal lucky magical mellow merry mighty mindful nimble noble \
    patient perky plucky polite proud quick quiet radiant rapid ready robust rosy rustic sharp \
    shiny silent sincere smart snappy sober solid spry stoic sturdy sunny swift thrifty tidy \
    tranquil trusty valiant vivid warm wise witty zesty zippy";

/// Notable scientists, mathematicians and engineers.
const NOUN_WORDS: &str = "\
    abel agassiz agnesi alferov alvarez ampere anderson appleton archimedes arrhenius \
    aryabhata aston avogadro ayrton babbage backus baekeland bardeen barkla bartik bassi \
    becquerel bell bernoulli bessel bethe blackwell bohr boltzmann boole born bose boyle bragg \
    brahe brattain brown bunsen carnot carson cauchy cavendish cayley celsius cerf chadwick \
    chandrasekhar chebyshev clausius cockcroft codd compton conway copernicus corbato cori \
    coulomb crick curie dalton darwin davy debye dedekind descartes dijkstra dirac doppler \
    dyson easley edison ehrlich einstein elion engelbart eratosthenes ericsson euclid euler \
    fahrenheit faraday fermat fermi feynman fibonacci fisher fleming fourier franklin fresnel \
    frisch galilei galois galvani gauss germain gibbs goddard godel goeppert goodall hahn \
    haldane halley hamilton hamming hawking heaviside heisenberg helmholtz hertz higgs hilbert \
    hodgkin hollerith hooke hopper hubble huxley huygens hypatia jacobi jenner joule kahan \
    kapitsa kay kelvin kepler kernighan khayyam kilby kirchhoff knuth koch kolmogorov \
    kovalevskaya lagrange lamarr lambert lamport landau langmuir laplace lavoisier leavitt \
    lebesgue leeuwenhoek leibniz lemaitre liskov lister lorentz lovelace lyell mach marconi \
    maxwell mayer mccarthy mcclintock meitner mendel mendeleev mersenne michelson millikan \
    minkowski minsky mirzakhani moore morse moseley napier nash neumann newton nightingale \
    nobel noether noyce ohm oppenheimer pascal pasteur pauli pauling payne perlman pike planck \
    poincare poisson ptolemy pythagoras raman ramanujan rayleigh riemann ritchie roentgen \
    rutherford sagan salk sammet schrodinger shannon shockley snell sommerfeld stallman \
    steinmetz stokes sutherland swirles szilard tesla thompson thomson torricelli torvalds \
    turing tyndall vaughan volta wallace watt weber wegener wiener wilkes wirth wozniak wright \
    wu yalow yang yukawa zuse zwicky";

static ADJECTIVES: LazyLock<Vec<&str>> =
    LazyLock::new(|| ADJECTIVE_WORDS.split_whitespace().collect());
static NOUNS: LazyLock<Vec<&str>> = LazyLock::new(|| NOUN_WORDS.split_whitespace().collect());

/// How many random pairs are tried as they are before a number is added.
const PLAIN_PICKS: u32 = 6;
/// How many picks are made with each width of number (1 digit, then 2, ...).
const PICKS_PER_WIDTH: u32 = 4;

/// Whether `name` may name a container or a pod: letters, digits and `_ . -`, starting with
/// a letter or digit (as Podman checks both).
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// A name for container `id` that `taken` says is free: a random `adjective_noun`, with a
/// random number added after [`PLAIN_PICKS`] picks that were taken (wider as more are).
/// Each pick asks `taken` once; the picks come from a generator seeded with the (random)
/// ID, so the same ID and the same taken names give the same name.
pub fn generate_name(id: &str, taken: impl Fn(&str) -> bool) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut hasher);
    let mut picks = SplitMix(hasher.finish());
    for pick in 0u32.. {
        let adjective = ADJECTIVES[picks.below(ADJECTIVES.len() as u64) as usize];
        let noun = NOUNS[picks.below(NOUNS.len() as u64) as usize];
        let name = match pick.checked_sub(PLAIN_PICKS) {
            None => format!("{adjective}_{noun}"),
            Some(extra) => {
                let digits = (1 + extra / PICKS_PER_WIDTH).min(18);
                let number = picks.below(10u64.pow(digits));
                format!("{adjective}_{noun}_{number}")
            }
        };
        if !taken(&name) {
            return name;
        }
    }
    unreachable!("the picks never end")
}

/// SplitMix64: a small generator, enough to spread picks over the name space (the
/// randomness itself comes from the ID).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (n > 0); the bias of the modulo is negligible for n ≪ 2^64.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::collections::HashSet;

    #[test]
    fn the_name_space_is_as_wide_as_podmans() {
        for list in [&*ADJECTIVES, &*NOUNS] {
            let unique: HashSet<_> = list.iter().collect();
            assert_eq!(unique.len(), list.len(), "a word is listed twice");
            assert!(
                list.iter()
                    .all(|w| w.bytes().all(|b| b.is_ascii_lowercase()))
            );
        }
        assert!(ADJECTIVES.len() * NOUNS.len() >= 25_000);
    }

    #[test]
    fn generated_names_are_unique_and_random() {
        let id = new_id();
        assert_eq!(id.len(), 64);
        let first = generate_name(&id, |_| false);
        assert_eq!(first.split('_').count(), 2);
        let second = generate_name(&id, |n| n == first);
        assert_ne!(first, second);
        // Spread over the space: 200 IDs give (almost surely) 200 different names.
        let names: HashSet<String> = (0..200)
            .map(|_| generate_name(&new_id(), |_| false))
            .collect();
        assert!(names.len() >= 195, "{} distinct names of 200", names.len());
    }

    /// With every `adjective_noun` taken, a name still comes after a handful of looks (a
    /// number added), not after walking the space.
    #[test]
    fn a_full_space_adds_a_number_without_walking_it() {
        let looks = Cell::new(0);
        let name = generate_name(&new_id(), |n| {
            looks.set(looks.get() + 1);
            n.split('_').count() == 2
        });
        assert_eq!(name.split('_').count(), 3, "{name}");
        assert!(name.rsplit('_').next().unwrap().parse::<u64>().is_ok());
        assert_eq!(looks.get(), PLAIN_PICKS + 1);
        // Even with every name taken but those of 5 digits, the picks soon reach them.
        let looks = Cell::new(0);
        let name = generate_name(&new_id(), |n| {
            looks.set(looks.get() + 1);
            n.split('_').nth(2).is_none_or(|number| number.len() < 5)
        });
        assert!(looks.get() <= PLAIN_PICKS + 6 * PICKS_PER_WIDTH, "{name}");
    }
}
