/**
 * Breed names, in one place. Labels everywhere (dataset folders, label maps, warehouse
 * rows) are the dataset's snake_case names; the Dog CEO API has its own names
 * (`retriever-golden`), and people read display names.
 */
export interface Breed {
  /** Label used in datasets, models and the warehouse (the folder name under datasets/dogs). */
  label: string;
  /** Name in Dog CEO image URLs: `breed` or `breed-subbreed`. */
  dogCeo: string;
  display: string;
  wordnetId: string;
  /**
   * The breed's ImageNet-1k class (0–999, the index in the usual 1000-class order), or null
   * when ImageNet has none. The one breed → ImageNet mapping: model zero (the ImageNet head
   * restricted to these classes, core/model/model-zero.ts) is built from it, and a breed
   * without a class is absent from model zero until a trained model learns it.
   */
  imagenetClass: number | null;
}

export const BREEDS: readonly Breed[] = [
  { label: 'chihuahua', dogCeo: 'chihuahua', display: 'Chihuahua', wordnetId: 'n02085620', imagenetClass: 151 },
  { label: 'shih_tzu', dogCeo: 'shihtzu', display: 'Shih Tzu', wordnetId: 'n02086240', imagenetClass: 155 },
  { label: 'beagle', dogCeo: 'beagle', display: 'Beagle', wordnetId: 'n02088364', imagenetClass: 162 },
  { label: 'golden_retriever', dogCeo: 'retriever-golden', display: 'Golden Retriever', wordnetId: 'n02099601', imagenetClass: 207 },
  { label: 'labrador_retriever', dogCeo: 'labrador', display: 'Labrador Retriever', wordnetId: 'n02099712', imagenetClass: 208 },
  { label: 'german_shepherd', dogCeo: 'germanshepherd', display: 'German Shepherd', wordnetId: 'n02106662', imagenetClass: 235 },
  { label: 'border_collie', dogCeo: 'collie-border', display: 'Border Collie', wordnetId: 'n02106166', imagenetClass: 232 },
  { label: 'siberian_husky', dogCeo: 'husky', display: 'Siberian Husky', wordnetId: 'n02110185', imagenetClass: 250 },
  { label: 'pug', dogCeo: 'pug', display: 'Pug', wordnetId: 'n02110958', imagenetClass: 254 },
  { label: 'pembroke', dogCeo: 'pembroke', display: 'Pembroke Welsh Corgi', wordnetId: 'n02113023', imagenetClass: 263 },
  { label: 'samoyed', dogCeo: 'samoyed', display: 'Samoyed', wordnetId: 'n02111889', imagenetClass: 258 },
  { label: 'boxer', dogCeo: 'boxer', display: 'Boxer', wordnetId: 'n02108089', imagenetClass: 242 },
  { label: 'rottweiler', dogCeo: 'rottweiler', display: 'Rottweiler', wordnetId: 'n02106550', imagenetClass: 234 },
  { label: 'french_bulldog', dogCeo: 'bulldog-french', display: 'French Bulldog', wordnetId: 'n02108915', imagenetClass: 245 },
  { label: 'doberman', dogCeo: 'doberman', display: 'Dobermann', wordnetId: 'n02107142', imagenetClass: 236 },
  { label: 'standard_poodle', dogCeo: 'poodle-standard', display: 'Standard Poodle', wordnetId: 'n02113799', imagenetClass: 267 },
  { label: 'great_dane', dogCeo: 'dane-great', display: 'Great Dane', wordnetId: 'n02109047', imagenetClass: 246 },
  { label: 'cocker_spaniel', dogCeo: 'spaniel-cocker', display: 'Cocker Spaniel', wordnetId: 'n02102318', imagenetClass: 219 },
  { label: 'maltese_dog', dogCeo: 'maltese', display: 'Maltese', wordnetId: 'n02085936', imagenetClass: 153 },
  { label: 'yorkshire_terrier', dogCeo: 'terrier-yorkshire', display: 'Yorkshire Terrier', wordnetId: 'n02094433', imagenetClass: 187 },
];

const byLabel = new Map(BREEDS.map((b) => [b.label, b]));
const byDogCeo = new Map(BREEDS.map((b) => [b.dogCeo, b]));

/**
 * Label for a Dog CEO breed name. Breeds outside the table (the real API knows ~100
 * more) get a derived label, `sub_breed` style, so a new breed can grow the label set.
 */
export function labelFromDogCeo(dogCeo: string): string {
  const known = byDogCeo.get(dogCeo);
  if (known) return known.label;
  const [breed, sub] = dogCeo.split('-');
  return (sub ? `${sub}_${breed}` : breed).toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

/** Dog CEO name for a label (inverse of {@link labelFromDogCeo}). */
export function dogCeoFromLabel(label: string): string {
  const known = byLabel.get(label);
  if (known) return known.dogCeo;
  const parts = label.split('_');
  return parts.length === 2 ? `${parts[1]}-${parts[0]}` : label.replace(/_/g, '');
}

export function displayName(label: string): string {
  return byLabel.get(label)?.display ?? label.replace(/_/g, ' ').replace(/\b\w/g, (c) => c.toUpperCase());
}

/** The breed in a Dog CEO image URL: `https://images.dog.ceo/breeds/<breed>/<file>.jpg`. */
export function dogCeoBreedFromImageUrl(url: string): string {
  const m = /\/breeds\/([^/]+)\/[^/]+$/.exec(new URL(url).pathname);
  if (!m) throw new Error(`cannot find a breed in image URL ${url}: expected .../breeds/<breed>/<file>`);
  return decodeURIComponent(m[1]);
}
