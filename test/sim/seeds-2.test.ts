// 500 simulated transfers over random hostile profiles: part 2 of 4 (2,000 seeds in all).
import { seedPart } from './seed-part.js';

seedPart(2);
