// Jest stand-in for lightning/navigation that records the last page reference navigated to
// (the stub inside @salesforce/sfdx-lwc-jest discards it), as in trailheadapps/lwc-recipes.
export const CurrentPageReference = jest.fn();

let lastPageReference;
const Navigate = Symbol('Navigate');
const GenerateUrl = Symbol('GenerateUrl');

export const NavigationMixin = (Base) =>
    class extends Base {
        [Navigate](pageReference) {
            lastPageReference = pageReference;
        }

        [GenerateUrl](pageReference) {
            lastPageReference = pageReference;
            return Promise.resolve('https://www.example.com');
        }
    };
NavigationMixin.Navigate = Navigate;
NavigationMixin.GenerateUrl = GenerateUrl;

/** @returns the page reference of the last navigation, or undefined */
export const getNavigateCalledWith = () => lastPageReference;
